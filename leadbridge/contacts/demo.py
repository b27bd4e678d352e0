# Russian and Polish text is the point of this file, and word lists read best as text:
# ruff: noqa: SIM905
"""A believable demo data set: NordBridge, a small firm selling warehouse automation.

NordBridge sells warehouse software and equipment (WMS, barcode scanners, label printers,
RFID gates) to companies in Russia and Poland, with a few partners in the UK and the US.
`load_demo` creates its companies, ~2,000 contacts with stage histories, tags, custom
fields, notes (a few flagged as product issues), a data-quality queue and two merges.

Everything is seeded, so two runs produce the same people. Rows whose rules are
interesting (tags, custom fields, companies, product-issue notes, data-quality items,
merges) go through the services; the bulk of contacts, their history and timelines are
validated with the one cleaning path (`clean_contact_input`) and then bulk-inserted, so
the whole set loads in a few seconds. Demo contacts carry `external_id` `demo-…`: a second
run sees them and changes nothing.

Users live in the accounts app, which this layer may not import: the CLI creates
`DEMO_USERS` through the accounts services first, and `load_demo` looks them up.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from leadbridge.contacts.cleaning import clean_contact_input, custom_field_defs
from leadbridge.contacts.merge import contact_merge
from leadbridge.contacts.models import (
    Activity,
    Company,
    Consent,
    Contact,
    ContactPoint,
    ContactTag,
    DataQualityItem,
    Merge,
    Note,
    SpecialDate,
    StageChange,
    Tag,
)
from leadbridge.contacts.services import (
    company_create,
    custom_field_create,
    dq_item_record,
    dq_item_resolve,
    note_add,
    note_resolve_issue,
    tag_create,
)
from leadbridge.contacts.validation import Invalid, normalize_phone
from leadbridge.core import clock
from leadbridge.core.audit import audit_record
from leadbridge.core.errors import FieldError, NotFound, field_error

SEED = 2026
EXTERNAL_PREFIX = "demo-"
DEMO_PASSWORD = "nordbridge-demo"  # noqa: S105 - printed with the credentials; fine for a demo only
DEFAULT_URL = "http://127.0.0.1:8000/"
MIN_CONTACTS, MAX_CONTACTS = 20, 100_000
TEAM_RU, TEAM_PL = "Продажи Россия", "Sales Poland"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    first_name: str
    last_name: str
    team: str = ""
    language: str = "ru"

    @property
    def email(self) -> str:
        return f"{self.username}@nordbridge.example"


# One user per role of CONTRACT.md; two sales teams (Russia, Poland).
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "admin", "Павел", "Орлов"),
    DemoUser("director", "director", "Елена", "Васильева"),
    DemoUser("marketing", "marketing", "Мария", "Козлова"),
    DemoUser("sales1", "sales", "Дмитрий", "Соколов", TEAM_RU),
    DemoUser("sales2", "sales", "Tomasz", "Nowak", TEAM_PL, "en"),
    DemoUser("sales_head", "sales_head", "Андрей", "Морозов", TEAM_RU),
    DemoUser("presales", "presales", "Ольга", "Лебедева", TEAM_RU),
    DemoUser("dq", "data_quality", "Katarzyna", "Wójcik", "", "en"),
    DemoUser("guest", "guest", "Sam", "Taylor", "", "en"),
)


def demo_loaded() -> bool:
    return Contact.objects.filter(external_id__startswith=EXTERNAL_PREFIX).exists()


# --- names -------------------------------------------------------------------------------------

RU_MALE = (
    "Александр Дмитрий Сергей Андрей Алексей Максим Иван Михаил Николай Евгений Павел Артём "
    "Владимир Олег Игорь Роман Константин Юрий Денис Кирилл Виктор Антон Григорий Илья"
).split()
RU_FEMALE = (
    "Анна Елена Ольга Наталья Мария Екатерина Татьяна Ирина Светлана Юлия Анастасия Дарья "
    "Ксения Марина Виктория Алина Полина Софья Людмила Вера Надежда Галина"
).split()
# Male forms; `feminine_ru` derives Иванова, Троицкая, Толстая; Кравченко, Черных stay as they are.
RU_SURNAMES = (
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов "
    "Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров "
    "Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин "
    "Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов "
    "Ковалёв Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев "
    "Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов Мельников "
    "Калинин Фомин Галкин Левин Троицкий Успенский Покровский Островский Высоцкий Жуковский "
    "Толстой Донской Полевой Кравченко Бондаренко Ткаченко Шевчук Черных Белых Ким"
).split()
PL_MALE = (
    "Piotr Krzysztof Andrzej Tomasz Paweł Michał Marcin Jakub Adam Łukasz Mateusz Grzegorz "
    "Marek Kamil Wojciech Rafał Bartosz Jan Maciej Dariusz"
).split()
PL_FEMALE = (
    "Anna Katarzyna Małgorzata Agnieszka Barbara Ewa Magdalena Joanna Aleksandra Monika Zofia "
    "Natalia Karolina Marta Dorota Justyna Beata Paulina Weronika Julia"
).split()
# Male forms; `feminine_pl` turns -ski/-cki/-dzki into -ska/-cka/-dzka; Nowak stays Nowak.
PL_SURNAMES = (
    "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak "
    "Dąbrowski Kozłowski Jankowski Mazur Kwiatkowski Krawczyk Piotrowski Grabowski Nowakowski "
    "Pawłowski Michalski Adamczyk Dudek Zając Wieczorek Jabłoński Król Majewski Olszewski Jaworski "
    "Malinowski Stępień Górski Rutkowski Sikora Baran Ostrowski Witkowski Walczak Zawadzki"
).split()
EN_MALE = (
    "James John Robert Michael David William Richard Thomas Daniel Matthew Andrew Mark Paul "
    "Steven George Oliver Harry Jack Samuel Benjamin"
).split()
EN_FEMALE = (
    "Mary Emma Olivia Sarah Jessica Emily Sophie Charlotte Hannah Laura Rachel Amy Lucy Grace "
    "Chloe Rebecca Victoria Kate Helen Alice"
).split()
EN_SURNAMES = (
    "Smith Johnson Williams Brown Jones Taylor Davies Wilson Evans Thomas Roberts Walker Wright "
    "Thompson White Hughes Edwards Green Hall Wood Harris Clarke Lewis Jackson Martin Cooper Hill "
    "Ward Morris Moore Clark King Baker Turner Parker Carter Mitchell Anderson Miller Campbell"
).split()


def feminine_ru(surname: str) -> str:
    """Иванов → Иванова, Ильин → Ильина, Троицкий → Троицкая, Толстой → Толстая; Черных stays."""
    if surname.endswith(("ский", "цкий")):
        return surname[:-2] + "ая"
    if surname.endswith(("ой", "ый")):
        return surname[:-2] + "ая"
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    return surname


def feminine_pl(surname: str) -> str:
    """Kowalski → Kowalska, Zieliński → Zielińska; Nowak, Wójcik stay as they are."""
    if surname.endswith(("ski", "cki", "dzki")):
        return surname[:-1] + "a"
    return surname


_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya".split(),
        strict=True,
    )
)
_TRANSLIT.update({"ъ": "", "ь": ""})
_TRANSLIT.update(dict(zip("ąćęłńóśźż", "acelnoszz", strict=True)))


def translit(text: str) -> str:
    """Latin letters for an email address: Соловьёв → solovev, Wiśniewski → wisniewski."""
    out = []
    for ch in text.lower():
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
        elif ch.isascii() and (ch.isalnum() or ch in ".-"):
            out.append(ch)
        elif ch in " «»\"'":
            out.append("-" if ch == " " else "")
    return "".join(out).strip("-")


# --- places, companies, products ---------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    country: str
    region: str
    postal_prefixes: tuple[str, ...]
    phone_codes: tuple[str, ...]  # national landline codes for company phones


CITIES: dict[str, tuple[City, ...]] = {
    "RU": (
        City("Москва", "RU", "Москва", ("101", "105", "115", "119", "123", "127"), ("495", "499")),
        City("Санкт-Петербург", "RU", "Санкт-Петербург", ("190", "191", "194", "196", "197"), ("812",)),
        City("Екатеринбург", "RU", "Свердловская область", ("620",), ("343",)),
        City("Новосибирск", "RU", "Новосибирская область", ("630",), ("383",)),
        City("Казань", "RU", "Республика Татарстан", ("420",), ("843",)),
        City("Нижний Новгород", "RU", "Нижегородская область", ("603",), ("831",)),
        City("Краснодар", "RU", "Краснодарский край", ("350",), ("861",)),
        City("Самара", "RU", "Самарская область", ("443",), ("846",)),
        City("Ростов-на-Дону", "RU", "Ростовская область", ("344",), ("863",)),
        City("Пермь", "RU", "Пермский край", ("614",), ("342",)),
    ),
    "PL": (
        City("Warszawa", "PL", "mazowieckie", ("00", "01", "02", "03", "04"), ("22",)),
        City("Kraków", "PL", "małopolskie", ("30", "31"), ("12",)),
        City("Wrocław", "PL", "dolnośląskie", ("50", "51", "53"), ("71",)),
        City("Poznań", "PL", "wielkopolskie", ("60", "61"), ("61",)),
        City("Gdańsk", "PL", "pomorskie", ("80",), ("58",)),
        City("Łódź", "PL", "łódzkie", ("90", "91", "93"), ("42",)),
        City("Katowice", "PL", "śląskie", ("40",), ("32",)),
    ),
    "GB": (
        City("London", "GB", "England", ("EC1A", "SE1", "N1", "E14"), ("20",)),
        City("Manchester", "GB", "England", ("M1", "M3", "M15"), ("161",)),
        City("Birmingham", "GB", "England", ("B1", "B5"), ("121",)),
    ),
    "US": (
        City("New York", "US", "NY", ("100", "101"), ("212", "646")),
        City("Chicago", "US", "IL", ("606",), ("312",)),
        City("Austin", "US", "TX", ("787",), ("512",)),
    ),
}

STREETS = {
    "RU": (
        "ул. Ленина",
        "пр-т Мира",
        "ул. Садовая",
        "ул. Заводская",
        "ш. Энтузиастов",
        "ул. Складская",
        "Промышленная ул.",
        "ул. Гагарина",
        "ул. Мичурина",
        "Набережная ул.",
    ),
    "PL": (
        "ul. Marszałkowska",
        "ul. Długa",
        "ul. Przemysłowa",
        "al. Jerozolimskie",
        "ul. Magazynowa",
        "ul. Polna",
        "ul. Kolejowa",
        "ul. Składowa",
    ),
    "GB": ("High Street", "Station Road", "Mill Lane", "Dock Street", "Park Road"),
    "US": ("Main Street", "Industrial Drive", "Commerce Way", "Harbor Boulevard", "Lake Street"),
}

INDUSTRIES = (
    "Logistics",
    "Retail",
    "Manufacturing",
    "Pharma",
    "E-commerce",
    "Wholesale",
    "Food & beverage",
    "Automotive",
)
COMPANY_ROOTS = {
    "RU": (
        "Вектор",
        "Альянс",
        "Техноком",
        "Промресурс",
        "Агроснаб",
        "Северный Терминал",
        "Уралмет",
        "Волга",
        "Сибирь",
        "МедТехника",
        "ЭлектроСнаб",
        "ПродЛайн",
        "Балтика",
        "Орион",
        "Меридиан",
        "Гранит",
        "Спектр",
        "Астра",
        "Кедр",
        "Ладога",
        "Прогресс",
        "Стрела",
        "Фарм",
        "Магистраль",
        "Азимут",
        "Дельта",
        "Зенит",
        "Импульс",
        "Каскад",
        "Лотос",
    ),
    "PL": (
        "Transbud",
        "Polmarket",
        "Logitrans",
        "Agropol",
        "Medica",
        "Elektromex",
        "Budmax",
        "Wisła",
        "Mazovia",
        "Śląsk",
        "Baltica",
        "Karpaty",
        "Warta",
        "Odra",
        "Pomorze",
        "Tatra",
        "Bałtyk",
        "Orzeł",
        "Kompas",
        "Sokół",
    ),
    "GB": ("Greenfield", "Atlas", "Bluewater", "Northgate", "Riverside", "Kingsway", "Harbourline"),
    "US": ("Lakeside", "Summit", "Pioneer", "Granite", "Frontier", "Keystone"),
}
COMPANY_SUFFIXES = {
    "RU": ("Логистик", "Трейд", "Опт", "Групп", "Дистрибуция", "Склад", "Ритейл", "Производство", ""),
    "PL": ("Logistics", "Trade", "Hurt", "Group", "Dystrybucja", "Magazyny", "Retail", ""),
    "GB": ("Logistics", "Supply", "Distribution", "Retail", "Foods"),
    "US": ("Logistics", "Supply", "Distribution", "Retail", "Foods"),
}
LEGAL_FORM = {
    "RU": ("ООО «{}»", "АО «{}»", "ГК «{}»"),
    "PL": ("{} Sp. z o.o.", "{} S.A."),
    "GB": ("{} Ltd",),
    "US": ("{} Inc.", "{} LLC"),
}
TLD = {"RU": ".ru", "PL": ".pl", "GB": ".co.uk", "US": ".com"}
PERSONAL_MAIL = {
    "RU": ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "list.ru"),
    "PL": ("gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl"),
    "GB": ("gmail.com", "outlook.com", "yahoo.co.uk"),
    "US": ("gmail.com", "outlook.com", "yahoo.com"),
}
JOB_TITLES = {
    "RU": (
        "Директор по логистике",
        "Руководитель склада",
        "Менеджер по закупкам",
        "ИТ-директор",
        "Генеральный директор",
        "Главный инженер",
        "Начальник отдела снабжения",
        "Операционный директор",
        "Специалист по закупкам",
    ),
    "PL": (
        "Kierownik magazynu",
        "Dyrektor operacyjny",
        "Specjalista ds. zakupów",
        "Kierownik IT",
        "Prezes zarządu",
        "Kierownik logistyki",
        "Kupiec",
    ),
    "EN": (
        "Warehouse Manager",
        "Head of Operations",
        "Procurement Manager",
        "CTO",
        "Supply Chain Director",
        "Logistics Coordinator",
        "Managing Director",
    ),
}
PRODUCTS = ("NordWMS Cloud", "NB-Scan 500", "NB-Print L4", "NB-RFID Gate", "NB-Tab 8", "Термоэтикетки 58×40")

TAGS = (
    # (name, color, share of contacts)
    ("newsletter", "#2563eb", 0.35),
    ("webinar-2026", "#7c3aed", 0.14),
    ("vip", "#dc2626", 0.0),  # given to big customers below
    ("partner", "#059669", 0.06),
    ("expo-warsaw-2026", "#d97706", 0.0),  # Polish contacts met at the trade show
    ("trial", "#0891b2", 0.0),  # contacts who asked for a trial
    ("churn-risk", "#b91c1c", 0.0),
    # Campaign segments the marketing team uses in its filters (see CONTRACT.md examples):
    ("beach", "#f59e0b", 0.08),  # resorts and hotels: seasonal stock for beach shops
    ("forest", "#15803d", 0.07),  # timber and paper industry campaign
    ("income", "#4d7c0f", 0.05),  # "grow your income" partner-programme campaign
    ("investor", "#6b7280", 0.02),  # investor-relations mailing list
)

CUSTOM_FIELDS: tuple[dict[str, Any], ...] = (
    {"key": "partner_name", "label": "Partner name", "kind": "text"},
    {"key": "budget", "label": "Budget, EUR", "kind": "number"},
    {
        "key": "industry_segment",
        "label": "Industry segment",
        "kind": "choice",
        "choices": ["SMB", "Mid-market", "Enterprise", "Public sector"],
    },
    {
        "key": "interests",
        "label": "Interests",
        "kind": "multi_choice",
        "choices": ["WMS", "Barcode scanners", "Label printers", "RFID", "Mobile computers", "Integration"],
    },
    {"key": "trial_requested", "label": "Trial requested", "kind": "bool"},
    {"key": "contract_renewal", "label": "Contract renewal", "kind": "date"},
)
PARTNERS = (
    "ООО «СкладТех Интеграция»",
    "ИнфоЛогика",
    "Integra Systems Sp. z o.o.",
    "Scanpoint Polska",
    "LogiSoft UK",
    "АйДи Решения",
)

SOURCES = ("web_form", "web_form", "web_form", "import", "webinar", "expo", "manual", "api")
FUNNEL = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")
FINAL_STAGES = (
    ("subscriber", 18),
    ("lead", 30),
    ("mql", 16),
    ("sql", 12),
    ("opportunity", 9),
    ("customer", 10),
    ("disqualified", 3),
    ("recycled", 2),
)

BACK_REASONS = {
    "RU": (
        "Бюджет заморожен до следующего квартала",
        "Сменился ЛПР, начинаем заново",
        "Пилот перенесли на осень",
        "Клиент выбрал другой склад, проект на паузе",
    ),
    "EN": (
        "Budget frozen until next quarter",
        "The decision maker left the company",
        "Pilot postponed until autumn",
        "Tender cancelled, back to nurturing",
    ),
}
DISQUALIFY_REASONS = {
    "RU": (
        "Студент, пишет диплом — не покупатель",
        "Нет бюджета и потребности",
        "Конкурент изучает наши цены",
        "Розничный покупатель, нужен один сканер",
    ),
    "EN": (
        "Student research, not a buyer",
        "No budget and no need",
        "A competitor researching our prices",
        "Wrong country, we do not ship there",
    ),
}
RECYCLE_REASONS = {
    "RU": ("Проиграли конкуренту, вернуться через полгода", "Проект отложен на год"),
    "EN": ("Lost to a competitor; re-nurture in six months", "Project postponed by a year"),
}
FORWARD_REASONS = {
    "RU": {
        "lead": ("Заполнил форму на сайте", "Оставил заявку на звонок", ""),
        "mql": ("Был на вебинаре", "Скачал прайс-лист", "Открыл три рассылки", ""),
        "sql": ("Квалифицирован: есть бюджет и сроки", "Подтвердили потребность и ЛПР", ""),
        "opportunity": ("Отправлено КП", "Согласовали пилот на одном складе", ""),
        "customer": ("Договор подписан, оплата получена", "Первая поставка оплачена", ""),
    },
    "EN": {
        "lead": ("Filled in the contact form", "Asked for a call back", ""),
        "mql": ("Webinar attended", "Downloaded the price list", "Opened three newsletters", ""),
        "sql": ("Qualified: budget and need confirmed", "Decision maker identified", ""),
        "opportunity": ("Proposal sent", "Pilot agreed in one warehouse", ""),
        "customer": ("Contract signed", "First delivery paid", ""),
    },
}
NOTES = {
    "RU": (
        "Звонил, интересуется {product}. Просит КП на {n} шт.",
        "Отправил коммерческое предложение, ждём ответа до пятницы.",
        "Провели демо NordWMS Cloud, понравилась мобильная инвентаризация.",
        "Перенесли встречу на следующую неделю — клиент в отпуске.",
        "Запросили счёт, согласуют с финансовым директором.",
        "Сравнивают нас с конкурентом, важны цена и срок поставки.",
        "Попросили рекомендации от клиентов из ритейла.",
    ),
    "PL": (
        "Rozmowa telefoniczna: zainteresowany {product}, prosi o ofertę na {n} szt.",
        "Wysłałem ofertę, kontakt w piątek.",
        "Spotkanie na targach w Warszawie, prosi o cennik.",
        "Demo NordWMS Cloud poszło dobrze, chcą pilotażu w jednym magazynie.",
    ),
    "EN": (
        "Call: interested in {product}, asked for a quote for {n} units.",
        "Sent the proposal; follow up on Friday.",
        "Demo went well, they want a pilot in one warehouse.",
        "Procurement asked for references from retail customers.",
        "Met at the Warsaw expo, wants the price list.",
    ),
}
PRODUCT_ISSUES = (
    # (text, product, language of the contact and its manager)
    (
        "Нет на складе ТСД NB-Scan 500 — клиент ждёт партию 40 шт., срок поставки сорвался.",
        "NB-Scan 500",
        "RU",
    ),
    (
        "Out of stock: NB-Print L4 label printers, the customer needs 12 units before the peak season.",
        "NB-Print L4",
        "EN",
    ),
    ("Нет на складе термоэтикеток 58×40, клиент уходит к конкуренту.", "Термоэтикетки 58×40", "RU"),
    ("Out of stock in the Warsaw warehouse: NB-RFID Gate, lead time is now 8 weeks.", "NB-RFID Gate", "EN"),
    ("Brak towaru w magazynie (out of stock): NB-Scan 500, klient czeka od miesiąca.", "NB-Scan 500", "PL"),
    ("NordWMS Cloud: нет интеграции с 1С:УНФ, без неё сделку не закрыть.", "NordWMS Cloud", "RU"),
    (
        "The customer reports NB-Print L4 jams on 100×150 labels; wants a fix before ordering more.",
        "NB-Print L4",
        "EN",
    ),
    ("Нет на складе аккумуляторов для NB-Scan 500, гарантийные замены задерживаются.", "NB-Scan 500", "RU"),
    (
        "Out of stock: NB-Tab 8 rugged tablets, the customer is looking at a competitor's model.",
        "NB-Tab 8",
        "EN",
    ),
    ("Нет на складе NB-Print L4 в Екатеринбурге, везём из Москвы — +5 дней к сроку.", "NB-Print L4", "RU"),
)


# --- generation ----------------------------------------------------------------------------------


@dataclass
class Person:
    """One generated contact before it becomes rows."""

    culture: str  # RU, PL, EN
    country: str
    data: dict[str, Any]
    stages: list[tuple[str, str, str]]  # (to_stage, actor key, reason)
    tags: list[str]
    owner: str | None
    source: str
    created_at: dt.datetime
    company_index: int | None
    extra_points: list[tuple[str, str]] = field(default_factory=list)
    consent: str | None = None
    special_date: dt.date | None = None


class Generator:
    """Seeded generator: the same `contacts` gives the same people on every run."""

    def __init__(self, *, contacts: int, now: dt.datetime, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.contacts = contacts
        self.now = now
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.company_rows: list[dict[str, Any]] = []
        self.company_country: list[str] = []

    # small helpers
    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def phone(self, country: str, *, mobile: bool = True, city: City | None = None) -> tuple[str, str]:
        """(as typed by a person, E.164), valid and unused."""
        rng = self.rng
        for _ in range(100):
            digits = "".join(str(rng.randrange(10)) for _ in range(7))
            if country == "RU":
                code = (
                    self.pick(
                        (
                            "903",
                            "905",
                            "909",
                            "910",
                            "915",
                            "916",
                            "917",
                            "919",
                            "921",
                            "925",
                            "926",
                            "929",
                            "950",
                            "960",
                            "961",
                            "977",
                            "985",
                            "999",
                        )
                    )
                    if mobile or city is None
                    else self.pick(city.phone_codes)
                )
                typed = self.pick(
                    (
                        f"8 ({code}) {digits[:3]}-{digits[3:5]}-{digits[5:]}",
                        f"+7 {code} {digits[:3]} {digits[3:5]} {digits[5:]}",
                        f"8{code}{digits}",
                    )
                )
                if not mobile and city is not None and len(code) == 3:
                    typed = f"+7 ({code}) {digits[:3]}-{digits[3:5]}-{digits[5:]}"
            elif country == "PL":
                if mobile or city is None:
                    num = (
                        self.pick(("50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"))
                        + digits
                    )
                else:
                    num = (self.pick(city.phone_codes) + digits)[:9]
                typed = f"+48 {num[:3]} {num[3:6]} {num[6:]}"
            elif country == "GB":
                num = "7" + self.pick(("400", "500", "700", "800", "900")) + digits[:6]
                typed = f"+44 {num[:4]} {num[4:]}"
            else:
                area = self.pick(city.phone_codes) if city else self.pick(("212", "312", "415", "617"))
                num = area + str(rng.randrange(2, 10)) + digits[:6]
                typed = f"+1 ({num[:3]}) {num[3:6]}-{num[6:]}"
            try:
                e164 = normalize_phone(typed, "RU" if country == "RU" else country)
            except Invalid:
                continue
            if e164 not in self.phones:
                self.phones.add(e164)
                return typed, e164
        raise RuntimeError(f"could not generate a phone for {country}")  # pragma: no cover

    def email(self, first: str, last: str, domain: str) -> str:
        f, la = translit(first), translit(last)
        patterns = (f"{f}.{la}", f"{f[0]}.{la}", f"{f}{la}", f"{la}.{f}", f"{f}_{la}")
        local = self.pick(patterns)
        personal = {"gmail.com", "mail.ru", "yandex.ru", "outlook.com", "wp.pl", "onet.pl"}
        if domain in personal and self.chance(0.5):
            local += str(self.rng.randrange(70, 100) if self.chance(0.6) else self.rng.randrange(1, 999))
        candidate = f"{local}@{domain}"
        n = 2
        while candidate in self.emails:
            candidate = f"{local}{n}@{domain}"
            n += 1
        self.emails.add(candidate)
        return candidate

    def companies(self, count: int) -> None:
        names: set[str] = set()
        for i in range(count):
            country = "RU" if i % 20 < 11 else "PL" if i % 20 < 17 else self.pick(("GB", "US"))
            for _ in range(50):
                root = self.pick(COMPANY_ROOTS[country])
                suffix = self.pick(COMPANY_SUFFIXES[country])
                core = (
                    f"{root}-{suffix}"
                    if suffix and country == "RU" and self.chance(0.5)
                    else (f"{root} {suffix}".strip())
                )
                if core not in names:
                    break
            names.add(core)
            city = self.pick(CITIES[country])
            _typed, office = self.phone(country, mobile=False, city=city)
            building = self.rng.randrange(1, 120)
            address = (
                f"{self.pick(STREETS[country])}, д. {building}"
                if country == "RU"
                else f"{self.pick(STREETS[country])} {building}"
                if country == "PL"
                else f"{building} {self.pick(STREETS[country])}"
            )
            self.company_rows.append(
                {
                    "name": self.pick(LEGAL_FORM[country]).format(core),
                    "domain": translit(core).replace("--", "-") + TLD[country],
                    "industry": self.pick(INDUSTRIES),
                    "phone": office,
                    "city": city.name,
                    "country": country,
                    "address": address,
                    "employees": int(
                        self.rng.choice((12, 25, 40, 60, 85, 120, 200, 350, 600, 1200, 3000))
                        * (0.8 + 0.4 * self.rng.random())
                    ),
                }
            )
            self.company_country.append(country)

    def created_at(self) -> dt.datetime:
        # More recent contacts than old ones: the funnel fills up over ~18 months.
        days = 540 * self.rng.random() ** 1.6
        return self.now - dt.timedelta(days=days + 1, seconds=self.rng.randrange(86400))

    def stage_path(self, culture: str, owner: str | None) -> list[tuple[str, str, str]]:
        """[(to_stage, actor key, reason)], the first being the creation."""
        lang = "RU" if culture == "RU" else "EN"
        final = self.rng.choices([s for s, _ in FINAL_STAGES], [w for _, w in FINAL_STAGES])[0]
        top = {
            "disqualified": self.pick(("lead", "mql", "sql")),
            "recycled": self.pick(("sql", "opportunity")),
        }.get(final, final)
        start = "subscriber" if top == "subscriber" or self.chance(0.35) else "lead"
        climb = list(FUNNEL[FUNNEL.index(start) : FUNNEL.index(top) + 1])
        seller = owner or "sales_head"
        steps: list[tuple[str, str, str]] = [(start, "", "")]
        for stage in climb[1:]:
            actor = {"lead": "", "mql": "marketing", "sql": "presales" if culture == "RU" else seller}.get(
                stage, seller
            )
            reason = self.pick(FORWARD_REASONS[lang][stage]) if self.chance(0.6) else ""
            steps.append((stage, actor, reason))
            # Now and then a deal slips back one stage and comes forward again.
            if stage in {"sql", "opportunity"} and stage != top and self.chance(0.12):
                back = FUNNEL[FUNNEL.index(stage) - 1]
                steps.append((back, seller, self.pick(BACK_REASONS[lang])))
                steps.append((stage, seller, ""))
        if final == "disqualified":
            steps.append(
                (
                    "disqualified",
                    "presales" if culture == "RU" else seller,
                    self.pick(DISQUALIFY_REASONS[lang]),
                )
            )
        elif final == "recycled":
            steps.append(("recycled", seller, self.pick(RECYCLE_REASONS[lang])))
        elif final in {"mql", "sql"} and self.chance(0.08):
            # Reached the next stage once, then moved back: the card shows why.
            up = FUNNEL[FUNNEL.index(final) + 1]
            steps.append((up, seller, ""))
            steps.append((final, seller, self.pick(BACK_REASONS[lang])))
        return steps

    def person(self) -> Person:
        rng = self.rng
        roll = rng.random()
        culture = "RU" if roll < 0.55 else "PL" if roll < 0.83 else "EN"
        female = self.chance(0.45)
        if culture == "RU":
            first = self.pick(RU_FEMALE if female else RU_MALE)
            last = self.pick(RU_SURNAMES)
            last = feminine_ru(last) if female else last
            country = "RU"
        elif culture == "PL":
            first = self.pick(PL_FEMALE if female else PL_MALE)
            last = self.pick(PL_SURNAMES)
            last = feminine_pl(last) if female else last
            country = "PL"
        else:
            first = self.pick(EN_FEMALE if female else EN_MALE)
            last = self.pick(EN_SURNAMES)
            country = self.pick(("GB", "GB", "US", "PL"))  # some English-speaking people work in Poland
        company_index: int | None = None
        same_country = [k for k, c in enumerate(self.company_country) if c == country]
        if same_country and self.chance(0.78):
            company_index = self.pick(same_country)
        if company_index is not None:
            company = self.company_rows[company_index]
            domain = company["domain"] if self.chance(0.85) else self.pick(PERSONAL_MAIL[country])
            city = next(c for c in CITIES[country] if c.name == company["city"])
        else:
            domain = self.pick(PERSONAL_MAIL[country])
            city = self.pick(CITIES[country])
        data: dict[str, Any] = {
            "first_name": first,
            "last_name": last,
            "name": f"{first} {last}",
            "city": city.name,
            "region": city.region,
            "country": country,
            "job_title": self.pick(JOB_TITLES["EN" if culture == "EN" else culture]),
        }
        if self.chance(0.93):
            data["email"] = self.email(first, last, domain)
        if self.chance(0.8) or "email" not in data:
            typed, _e164 = self.phone(country, city=city)
            data["phone"] = typed  # normalised by the cleaning path, as on every write
        if self.chance(0.35):
            building = rng.randrange(1, 150)
            if country == "RU":
                data["street"] = f"{self.pick(STREETS['RU'])}, д. {building}, оф. {rng.randrange(1, 400)}"
                data["postal_code"] = self.pick(city.postal_prefixes) + f"{rng.randrange(1000):03d}"
            elif country == "PL":
                data["street"] = f"{self.pick(STREETS['PL'])} {building}"
                data["postal_code"] = f"{self.pick(city.postal_prefixes)}-{rng.randrange(1000):03d}"
            else:
                data["street"] = f"{building} {self.pick(STREETS[country])}"
                data["postal_code"] = self.pick(city.postal_prefixes) + (
                    f" {rng.randrange(1, 10)}{self.pick('ABDEFGHJLNPQRSTUWXYZ')}{self.pick('ABDEFGHJLNPQRSTUWXYZ')}"
                    if country == "GB"
                    else f"{rng.randrange(100):02d}"
                )
        if self.chance(0.25):
            data["birthday"] = dt.date(rng.randrange(1962, 2001), rng.randrange(1, 13), rng.randrange(1, 29))
        source = self.pick(SOURCES)
        if source == "web_form" and self.chance(0.7):
            data["ip_address"] = (
                f"{self.pick(('203.0.113', '198.51.100', '192.0.2'))}.{rng.randrange(1, 255)}"
            )
            data["geo_city"] = city.name
            data["geo_country"] = country
        # Owner: Russian team, Polish team, English-speaking partners split between them.
        if culture == "RU":
            owner = self.pick(("sales1", "sales1", "sales1", "sales1", "sales_head", "presales"))
        elif culture == "PL":
            owner = "sales2"
        else:
            owner = self.pick(("sales2", "sales2", "sales1", "sales_head"))
        stages = self.stage_path(culture, owner)
        final = stages[-1][0]
        if final in {"subscriber", "lead"} and self.chance(0.55):
            owner = None
            stages = [
                (s, a if a not in {"sales1", "sales2", "sales_head", "presales"} else "sales_head", r)
                for s, a, r in stages
            ]
        tags = [name for name, _c, share in TAGS if share and self.chance(share)]
        if final == "subscriber" and "newsletter" not in tags and self.chance(0.7):
            tags.append("newsletter")
        if final in {"customer", "opportunity"} and self.chance(0.15):
            tags.append("vip")
        if country == "PL" and self.chance(0.22):
            tags.append("expo-warsaw-2026")
        if final == "customer" and self.chance(0.06):
            tags.append("churn-risk")
        custom: dict[str, Any] = {}
        if "partner" in tags or self.chance(0.05):
            custom["partner_name"] = self.pick(PARTNERS)
        if final in {"mql", "sql", "opportunity", "customer", "recycled"} and self.chance(0.6):
            custom["budget"] = (
                int(self.pick((2, 5, 8, 12, 20, 35, 50, 80, 120, 250)) * 1000 * (0.8 + rng.random() * 0.4))
                // 100
                * 100
            )
        if company_index is not None and self.chance(0.7):
            employees = self.company_rows[company_index]["employees"]
            custom["industry_segment"] = (
                ("SMB" if employees < 100 else "Mid-market" if employees < 1000 else "Enterprise")
                if self.chance(0.92)
                else "Public sector"
            )
        if self.chance(0.5):
            choices = CUSTOM_FIELDS[3]["choices"]
            custom["interests"] = sorted(rng.sample(choices, rng.randrange(1, 4)), key=choices.index)
        if final in {"sql", "opportunity"} and self.chance(0.3):
            custom["trial_requested"] = True
            tags.append("trial")
        special: dt.date | None = None
        if final == "customer":
            renewal = (self.now + dt.timedelta(days=rng.randrange(20, 365))).date()
            custom["contract_renewal"] = renewal.isoformat()
            special = renewal
        if custom:
            data["custom"] = custom
        extra: list[tuple[str, str]] = []
        if self.chance(0.06):
            if "email" in data and self.chance(0.5):
                extra.append(("email", self.email(first, last, self.pick(PERSONAL_MAIL[country]))))
            else:
                extra.append(("phone", self.phone(country, city=city)[1]))
        consent = None
        if "email" in data:
            if "newsletter" in tags:
                consent = "granted"
            elif self.chance(0.05):
                consent = "revoked"
        return Person(
            culture=culture,
            country=country,
            data=data,
            stages=stages,
            tags=tags,
            owner=owner,
            source=source,
            created_at=self.created_at(),
            company_index=company_index,
            extra_points=extra,
            consent=consent,
            special_date=special,
        )

    def stage_times(self, person: Person) -> list[dt.datetime]:
        """Increasing moments from creation to (nearly) now, one per stage step."""
        start = person.created_at
        span = (self.now - dt.timedelta(hours=2) - start).total_seconds()
        count = len(person.stages)
        fractions = sorted(self.rng.random() ** 0.7 for _ in range(count - 1))
        return [start] + [
            start + dt.timedelta(seconds=span * f + 60 * (k + 1)) for k, f in enumerate(fractions)
        ]


# --- loading ---------------------------------------------------------------------------------------


def _demo_users() -> dict[str, Any]:
    user_model = get_user_model()
    users = {u.username: u for u in user_model.objects.filter(username__in=[d.username for d in DEMO_USERS])}
    missing = [d.username for d in DEMO_USERS if d.username not in users]
    if missing:
        raise NotFound(f"Demo users missing: {', '.join(missing)} (`leadbridge demo` creates them)")
    return users


@transaction.atomic
def load_demo(contacts: int = 2000, *, seed: int = SEED) -> dict[str, Any]:
    """Load the demo company (the users of `DEMO_USERS` must exist). Idempotent."""
    if not MIN_CONTACTS <= contacts <= MAX_CONTACTS:
        raise field_error("contacts", f"Must be between {MIN_CONTACTS} and {MAX_CONTACTS}")
    if demo_loaded():
        return {"loaded": False, "counts": _counts(), "lines": ["demo data already loaded (nothing changed)"]}
    started = time.perf_counter()
    users = _demo_users()
    admin = users["admin"]
    now = clock.now().replace(microsecond=0)
    gen = Generator(contacts=contacts, now=now, seed=seed)
    history_start = now - dt.timedelta(days=560)

    # Definitions, through the services (validation, audit).
    with clock.frozen(history_start):
        for fdef in CUSTOM_FIELDS:
            if not custom_field_defs().get(fdef["key"]):
                custom_field_create(actor=admin, **fdef)
        existing_tags = set(Tag.objects.values_list("key", flat=True))
        for name, color, _share in TAGS:
            if name not in existing_tags:
                tag_create(actor=users["marketing"], name=name, color=color)
        gen.companies(max(5, round(contacts * 150 / 2000)))
        companies = [company_create(actor=admin, data=row) for row in gen.company_rows]
    defs = custom_field_defs()
    tags_by_key = {t.key: t for t in Tag.objects.all()}

    # Contacts: generated, cleaned by the one cleaning path, then bulk-inserted.
    people = [gen.person() for _ in range(contacts - 2)]
    twins = _twins(gen, people)
    people += twins
    rows: list[Contact] = []
    all_times = [gen.stage_times(person) for person in people]
    for i, person in enumerate(people):
        clean = clean_contact_input(person.data, defs=defs, partial=False)
        if clean.errors:  # a generator bug, not user input
            raise ValueError(f"demo contact {i}: {clean.errors}")
        values = {k: v for k, v in clean.values.items() if v is not None}
        rows.append(
            Contact(
                **values,
                custom={k: v for k, v in clean.custom.items() if v is not None},
                stage=person.stages[-1][0],
                owner=users[person.owner] if person.owner else None,
                company=companies[person.company_index] if person.company_index is not None else None,
                external_id=f"{EXTERNAL_PREFIX}{i + 1:05d}",
                created_at=person.created_at,
                updated_at=all_times[i][-1],
                version=len(person.stages),
            )
        )
    Contact.objects.bulk_create(rows, batch_size=500)

    changes: list[StageChange] = []
    activities: list[Activity] = []
    links: list[ContactTag] = []
    points: list[ContactPoint] = []
    consents: list[Consent] = []
    dates: list[SpecialDate] = []
    notes: list[Note] = []
    for person, contact, times in zip(people, rows, all_times, strict=True):
        previous = ""
        for (stage, actor_key, reason), moment in zip(person.stages, times, strict=True):
            actor = users[actor_key] if actor_key else None
            if not previous:
                reason = f"created ({person.source})"
                activities.append(
                    Activity(
                        contact=contact,
                        kind="contact_created",
                        actor=None,
                        payload={"source": person.source},
                        occurred_at=moment,
                    )
                )
            else:
                activities.append(
                    Activity(
                        contact=contact,
                        kind="stage_changed",
                        actor=actor,
                        payload={"from": previous, "to": stage, "reason": reason},
                        occurred_at=moment,
                    )
                )
            changes.append(
                StageChange(
                    contact=contact,
                    from_stage=previous,
                    to_stage=stage,
                    actor=actor,
                    reason=reason,
                    occurred_at=moment,
                )
            )
            previous = stage
        if person.tags:
            links += [ContactTag(contact=contact, tag=tags_by_key[t]) for t in person.tags]
            activities.append(
                Activity(
                    contact=contact,
                    kind="tags_changed",
                    actor=None,
                    payload={"added": person.tags, "removed": []},
                    occurred_at=person.created_at + dt.timedelta(seconds=1),
                )
            )
        points += [
            ContactPoint(contact=contact, kind=k, value=v, label="personal" if k == "email" else "work")
            for k, v in person.extra_points
        ]
        if person.consent:
            consents.append(
                Consent(
                    contact=contact,
                    channel="email",
                    status=person.consent,
                    source="newsletter form" if person.consent == "granted" else "unsubscribe link",
                    changed_at=person.created_at + dt.timedelta(minutes=5),
                )
            )
        if person.special_date:
            dates.append(SpecialDate(contact=contact, label="Contract renewal", date=person.special_date))
        if contact.owner_id and gen.chance(0.45):
            for _ in range(gen.rng.randrange(1, 4)):
                moment = times[0] + (times[-1] - times[0]) * gen.rng.random() + dt.timedelta(minutes=30)
                template = gen.pick(NOTES[person.culture])
                body = template.format(product=gen.pick(PRODUCTS[:5]), n=gen.pick((5, 10, 12, 20, 40, 100)))
                notes.append(Note(contact=contact, author_id=contact.owner_id, body=body, created_at=moment))
    StageChange.objects.bulk_create(changes, batch_size=1000)
    ContactTag.objects.bulk_create(links, batch_size=1000)
    ContactPoint.objects.bulk_create(points, batch_size=1000)
    Consent.objects.bulk_create(consents, batch_size=1000)
    SpecialDate.objects.bulk_create(dates, batch_size=1000)
    Note.objects.bulk_create(notes, batch_size=1000)
    activities += [
        Activity(
            contact_id=n.contact_id,
            kind="note_added",
            actor_id=n.author_id,
            payload={"note_id": n.pk, "product_issue": False, "excerpt": n.body[:200]},
            occurred_at=n.created_at,
        )
        for n in notes
    ]
    activities += [
        Activity(
            contact=c.contact,
            kind="consent_changed",
            actor=None,
            payload={"channel": "email", "from": "unknown", "to": c.status, "source": c.source},
            occurred_at=c.changed_at,
        )
        for c in consents
    ]
    Activity.objects.bulk_create(activities, batch_size=1000)

    # The interesting bits, through the services.
    issues = _product_issues(gen, users, people[:-2], rows[:-2], now)
    dq = _quality_queue(gen, users, rows, defs, now)
    merges = _merges(users, rows[-2:], rows, now)

    counts = _counts()
    audit_record(actor=admin, action="demo.load", object_type="demo", after={"seed": seed, **counts})
    seconds = time.perf_counter() - started
    lines = [
        f"Demo data loaded in {seconds:.1f} s: {counts['contacts']} contacts, {counts['companies']} companies, "
        f"{counts['tags']} tags, {counts['custom_fields']} custom fields, {counts['stage_changes']} stage changes, "
        f"{counts['notes']} notes ({issues} product issues), {dq} data-quality items, {merges} merges.",
    ]
    return {"loaded": True, "seconds": round(seconds, 2), "counts": counts, "lines": lines}


def _counts() -> dict[str, int]:
    return {
        "contacts": Contact.objects.alive().count(),
        "companies": Company.objects.count(),
        "tags": Tag.objects.count(),
        "tag_links": ContactTag.objects.count(),
        "custom_fields": len(custom_field_defs()),
        "stage_changes": StageChange.objects.count(),
        "activities": Activity.objects.count(),
        "notes": Note.objects.count(),
        "product_issues": Note.objects.filter(is_product_issue=True).count(),
        "data_quality_items": DataQualityItem.objects.count(),
        "merges": Merge.objects.count(),
    }


def _twins(gen: Generator, people: list[Person]) -> list[Person]:
    """Two people entered twice (a form and an import): same phone, another email. Merged later."""
    twins: list[Person] = []
    candidates = [p for p in people if p.culture == "RU" and "phone" in p.data and "email" in p.data]
    for original in candidates[:2]:
        data = dict(original.data)
        data.pop("custom", None)
        data["name"] = f"{data['last_name']} {data['first_name']}"  # surname first, as typed in 1C
        data["email"] = gen.email(data["first_name"], data["last_name"], gen.pick(PERSONAL_MAIL["RU"]))
        data.pop("street", None)
        twins.append(
            Person(
                culture="RU",
                country="RU",
                data=data,
                stages=[("lead", "", "")],
                tags=["webinar-2026"],
                owner=None,
                source="import",
                created_at=gen.now - dt.timedelta(days=gen.rng.randrange(3, 20)),
                company_index=original.company_index,
            )
        )
    return twins


def _product_issues(
    gen: Generator, users: dict[str, Any], people: list[Person], rows: list[Contact], now: dt.datetime
) -> int:
    """A few "out of stock" notes, each by the contact's manager, in the language they share."""
    count = max(4, min(len(PRODUCT_ISSUES), len(rows) // 150))
    by_id = {u.pk: u for u in users.values()}
    late = {"sql", "opportunity", "customer"}
    used: set[int] = set()
    for k in range(count):
        body, product, language = PRODUCT_ISSUES[k]
        cultures = {"RU"} if language == "RU" else {"PL"} if language == "PL" else {"PL", "EN"}
        candidates = [
            c for p, c in zip(people, rows, strict=True) if p.culture in cultures and c.pk not in used
        ]
        best = [c for c in candidates if c.owner_id and c.stage in late] or candidates or rows
        contact = best[(k * 37) % len(best)]
        used.add(contact.pk)
        author = by_id[contact.owner_id] if contact.owner_id else users["sales_head"]
        with clock.frozen(now - dt.timedelta(days=2 + 4 * k, hours=gen.rng.randrange(9, 18))):
            note = note_add(
                actor=author, contact_id=contact.pk, body=body, is_product_issue=True, product=product
            )
        if k in {2, 5}:  # two are already sorted out
            with clock.frozen(now - dt.timedelta(days=1 + 2 * k)):
                note_resolve_issue(actor=users["director"], note_id=note.pk)
    return count


def _quality_queue(
    gen: Generator, users: dict[str, Any], rows: list[Contact], defs: Any, now: dt.datetime
) -> int:
    """Records that failed checks on capture/import, with the real cleaning errors."""
    with_email = [c for c in rows[:-2] if c.email]
    with_phone = [c for c in rows[:-2] if c.phone and c.country == "RU"]
    dup_email, dup_phone = with_email[len(with_email) // 3], with_phone[len(with_phone) // 2]
    national = "8" + dup_phone.phone[2:]  # the same number as a Russian would type it
    invalid: list[tuple[str, dict[str, Any]]] = [
        (
            "import",
            {
                "name": "Сергей Пахомов",
                "email": "pakhomov@promsnab-opt.ru",
                "phone": "+7 (495) 12-34",
                "company": "ООО «Промснаб»",
            },
        ),
        (
            "capture:form",
            {"name": "Marek Zieliński", "email": "marek.zielinski@wp", "phone": "+48 601 234 56"},
        ),
        ("import", {"name": "Ирина Фомина", "email": "i.fomina@mail.ru", "birthday": "31.02.1985"}),
        (
            "api",
            {
                "name": "Oliver Hughes",
                "email": "oliver.hughes@hughes-freight.co.uk",
                "country": "United Kingdom",
            },
        ),
    ]
    items: list[DataQualityItem] = []
    for k, (source, raw) in enumerate(invalid):
        errors = clean_contact_input(raw, defs=defs, partial=False).errors
        with clock.frozen(now - dt.timedelta(days=9 - 2 * k, hours=3)):
            items.append(dq_item_record(source=source, reason="invalid", raw=raw, errors=errors))
    duplicates: list[tuple[str, dict[str, Any], Contact, FieldError]] = [
        (
            "import",
            {"name": dup_email.display_name, "email": dup_email.email.upper(), "company": ""},
            dup_email,
            FieldError("email", f"Already used by contact #{dup_email.pk}"),
        ),
        (
            "capture:form",
            {"name": dup_phone.display_name, "phone": national, "message": "Перезвоните, пожалуйста"},
            dup_phone,
            FieldError("phone", f"Already used by contact #{dup_phone.pk}"),
        ),
    ]
    for k, (source, raw, contact, error) in enumerate(duplicates):
        with clock.frozen(now - dt.timedelta(days=3 - k, hours=5)):
            items.append(
                dq_item_record(
                    source=source, reason="duplicate", raw=raw, errors=[error], contact_id=contact.pk
                )
            )
    with clock.frozen(now - dt.timedelta(days=1, hours=2)):
        items.append(
            dq_item_record(
                source="capture:form",
                reason="malformed",
                raw={"body": "name=Test&&email=%%%&phone="},
                errors=[FieldError("payload", "Could not parse the form body")],
            )
        )
        items.append(
            dq_item_record(
                source="capture:form",
                reason="invalid",
                raw={"name": "test test", "email": "test@test"},
                errors=clean_contact_input({"email": "test@test"}, defs=defs, partial=False).errors,
            )
        )
    dq = users["dq"]
    with clock.frozen(now - dt.timedelta(hours=20)):
        # The fixable one: "United Kingdom" → GB, then a real contact.
        fixed = dict(invalid[3][1], country="GB")
        dq_item_resolve(
            actor=dq, item_id=items[3].pk, action="fix", data=fixed, note="Country code corrected"
        )
        dq_item_resolve(
            actor=dq, item_id=items[5].pk, action="merge", note="Same person, called back by phone"
        )
        dq_item_resolve(actor=dq, item_id=items[-1].pk, action="discard", note="Our own test submission")
    return len(items)


def _merges(users: dict[str, Any], twin_rows: list[Contact], rows: list[Contact], now: dt.datetime) -> int:
    """Merge each twin into the original with the same phone (history of both is kept)."""
    merged = 0
    for k, twin in enumerate(twin_rows):
        original = next(c for c in rows if c.phone == twin.phone and c.pk != twin.pk)
        with clock.frozen(now - dt.timedelta(hours=6 - k)):
            contact_merge(actor=users["dq"], winner_id=original.pk, loser_id=twin.pk)
        merged += 1
    return merged
