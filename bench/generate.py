"""Synthetic data for the benchmarks: users in teams, companies, tags, contacts and their history.

    python bench/generate.py --contacts 1000000 --tag-links 3000000 [--tags 500] [--users 40]
        [--companies 20000] [--activities-per-contact 3] [--seed 42] [--end 2026-11-22] [--reset]

Writes into the configured database (DATABASE_URL, else the SQLite file in LEADBRIDGE_DATA_DIR),
migrating it first (what `leadbridge init` does). Values are deterministic for a given seed and
--end date: names (Russian, English, Polish), unique emails, unique valid E.164 phones, stages
with their history, owners (sales users in teams), companies, created_at spread over two years
ending at --end, tags with Zipf-like popularity, and a few timeline rows per contact.

Fast path: contacts and everything hanging off them are written with raw `executemany` on SQLite
(one transaction, journal in memory, no fsync) and `COPY` on PostgreSQL (one transaction, FK
triggers off for the session), in chunks, with the secondary indexes dropped during the load and
rebuilt afterwards; then ANALYZE (VACUUM ANALYZE on PostgreSQL). Prints one JSON document with
row counts, seconds per phase and the database size.

Columns are taken from the Django models at run time; a column the generator does not fill gets
the model field's default, so new nullable/defaulted fields do not break it.
"""

# ruff: noqa: SIM905, S105
# (Cyrillic word lists; a fixed, printed benchmark password.)
from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

PASSWORD = "bench-pass-2026"
CHUNK = 20_000  # contacts per chunk; each chunk is a handful of executemany/COPY calls

# --- word lists ---------------------------------------------------------------------------------

RU_MALE = (
    "Александр Алексей Андрей Антон Артём Борис Вадим Валерий Василий Виктор Виталий Владимир "
    "Владислав Георгий Глеб Григорий Даниил Денис Дмитрий Евгений Егор Иван Игорь Илья Кирилл "
    "Константин Лев Леонид Максим Марк Матвей Михаил Никита Николай Олег Павел Пётр Роман Руслан "
    "Сергей Станислав Степан Тимофей Фёдор Юрий Ярослав"
).split()
RU_FEMALE = (
    "Алина Алла Анастасия Анна Антонина Валентина Валерия Вера Виктория Галина Дарья Диана Ева "
    "Евгения Екатерина Елена Елизавета Жанна Зоя Инна Ирина Карина Кристина Ксения Лариса Лидия "
    "Любовь Людмила Маргарита Марина Мария Надежда Наталья Нина Оксана Ольга Полина Светлана "
    "София Тамара Татьяна Ульяна Юлия Яна"
).split()
RU_LAST = (
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов "
    "Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров "
    "Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин "
    "Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов "
    "Ковалёв Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов "
    "Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов Мельников "
    "Денисов Гаврилов Тихонов Казаков Афанасьев Данилов Савельев Тимофеев Фомин Чернов Абрамов "
    "Мартынов Ефимов Федотов Щербаков Назаров Калинин Исаев Чернышёв Быков Маслов Родионов "
    "Коновалов Лазарев Воронин Климов Филатов Пономарёв Голубев Кудрявцев Прохоров Наумов Потапов "
    "Журавлёв Овчинников Трофимов Леонов Соболев Ермаков Колесников Гончаров Емельянов Никифоров "
    "Грачёв Котов Гришин Ефремов Архипов Громов Кириллов Малышев Панов Моисеев Румянцев Акимов "
    "Кондратьев Бирюков Горбунов Анисимов Ерёмин Тихомиров Галкин Лукьянов Михеев Скворцов Юдин "
    "Белоусов Нестеров Симонов Прокофьев Харитонов Князев Цветков Левин Митрофанов Воронов Аксёнов "
    "Софронов Мальцев Логинов Горшков Савин Краснов Майоров Демидов Елисеев Рыбаков Сафонов "
    "Плотников Дёмин Хохлов Жданов Руденко Шевченко Бондаренко Ткаченко Кравченко Лысенко Островский "
    "Покровский Вишневский Добровольский Преображенский Успенский Рождественский"
).split()
EN_MALE = (
    "James John Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel "
    "Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy "
    "Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott "
    "Brandon Benjamin Samuel Oliver Harry Jack Noah Leo Oscar Arthur Henry"
).split()
EN_FEMALE = (
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty "
    "Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah "
    "Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Anna Brenda Pamela Emma "
    "Nicole Helen Samantha Katherine Christine Rachel Olivia Amelia Isla Ava Grace Sophie"
).split()
EN_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson "
    "Baker Hall Rivera Campbell Mitchell Carter Roberts Evans Turner Phillips Parker Edwards "
    "Collins Stewart Morris Murphy Cook Rogers Morgan Peterson Cooper Reed Bailey Bell Gomez Kelly "
    "Howard Ward Cox Diaz Richardson Wood Watson Brooks Bennett Gray James Reyes Cruz Hughes Price "
    "Myers Long Foster Sanders Ross Morales Powell Sullivan Russell Ortiz Jenkins Perry Butler "
    "Barnes Fisher Henderson Coleman Simmons Patterson Jordan Reynolds Hamilton Graham Kim Wallace "
    "O'Brien Davies Wilkinson Hughes Clarke Walsh Murray Kennedy Lloyd Mason Fletcher Holmes"
).split()
PL_MALE = (
    "Jan Piotr Krzysztof Andrzej Tomasz Paweł Michał Marcin Marek Grzegorz Józef Łukasz Adam "
    "Zbigniew Jerzy Tadeusz Mateusz Dariusz Mariusz Wojciech Ryszard Jakub Kamil Maciej Rafał "
    "Robert Kacper Bartosz Szymon Filip Wiktor Antoni Stanisław Dawid Sebastian"
).split()
PL_FEMALE = (
    "Anna Maria Katarzyna Małgorzata Agnieszka Barbara Ewa Krystyna Elżbieta Magdalena Joanna "
    "Zofia Monika Teresa Danuta Natalia Julia Karolina Marta Beata Dorota Aleksandra Halina Irena "
    "Jadwiga Justyna Paulina Zuzanna Hanna Alicja Wiktoria Oliwia Maja Lena Amelia"
).split()
PL_LAST = (
    "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak "
    "Dąbrowski Kozłowski Jankowski Mazur Wojciechowski Kwiatkowski Krawczyk Kaczmarek Piotrowski "
    "Grabowski Zając Pawłowski Michalski Król Wieczorek Jabłoński Wróbel Nowakowski Majewski "
    "Olszewski Stępień Malinowski Jaworski Adamczyk Dudek Nowicki Pawlak Górski Witkowski Walczak "
    "Sikora Baran Rutkowski Michalak Szewczyk Ostrowski Tomaszewski Pietrzak Zalewski Wróblewski "
    "Marciniak Jasiński Zawadzki Bąk Jakubowski Sadowski Duda Włodarczyk Wilk Chmielewski Borkowski "
    "Sokołowski Szczepański Sawicki Lis Kucharski Kalinowski Wysocki Mazurek Kubiak Kołodziej"
).split()

TRANSLIT = str.maketrans(
    {
        **dict(zip("абвгдезийклмнопрстуфхцы", "abvgdeziyklmnoprstufhcy", strict=True)),
        "ё": "e", "ж": "zh", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ь": "", "э": "e", "ю": "yu",
        "я": "ya", "ą": "a", "ć": "c", "ę": "e", "ł": "l", "ń": "n", "ó": "o", "ś": "s", "ź": "z",
        "ż": "z", "'": "",
    }
)  # fmt: skip


def ascii_slug(text: str) -> str:
    return text.lower().translate(TRANSLIT)


def ru_female(last: str) -> str:
    if last.endswith("ский"):
        return last[:-2] + "ая"
    if last.endswith(("ов", "ев", "ёв", "ин")):
        return last + "а"
    return last  # -енко and the like do not change


def pl_female(last: str) -> str:
    return last[:-1] + "a" if last.endswith(("ski", "cki", "dzki")) else last


@dataclass(frozen=True)
class Locale:
    key: str
    share: float
    male: list[str]
    female: list[str]
    last: list[str]
    country: str
    cities: list[tuple[str, str, str]]  # (city, region, postal code prefix)
    free_mail: list[str]
    streets: list[str]


LOCALES = [
    Locale(
        "ru", 0.5, RU_MALE, RU_FEMALE, RU_LAST, "RU",
        [
            ("Москва", "Москва", "1"), ("Санкт-Петербург", "Санкт-Петербург", "19"),
            ("Новосибирск", "Новосибирская область", "630"), ("Екатеринбург", "Свердловская область", "620"),
            ("Казань", "Татарстан", "420"), ("Нижний Новгород", "Нижегородская область", "603"),
            ("Краснодар", "Краснодарский край", "350"), ("Самара", "Самарская область", "443"),
            ("Ростов-на-Дону", "Ростовская область", "344"), ("Воронеж", "Воронежская область", "394"),
        ],
        ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "rambler.ru"],
        ["ул. Ленина", "ул. Гагарина", "пр. Мира", "ул. Садовая", "ул. Пушкина", "Невский пр."],
    ),
    Locale(
        "en", 0.3, EN_MALE, EN_FEMALE, EN_LAST, "GB",
        [
            ("London", "Greater London", "EC"), ("Manchester", "Greater Manchester", "M"),
            ("Birmingham", "West Midlands", "B"), ("Leeds", "West Yorkshire", "LS"),
            ("Glasgow", "Scotland", "G"), ("Bristol", "Bristol", "BS"), ("Edinburgh", "Scotland", "EH"),
        ],
        ["gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk", "icloud.com"],
        ["High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue", "Mill Lane"],
    ),
    Locale(
        "pl", 0.2, PL_MALE, PL_FEMALE, PL_LAST, "PL",
        [
            ("Warszawa", "mazowieckie", "0"), ("Kraków", "małopolskie", "3"), ("Wrocław", "dolnośląskie", "5"),
            ("Poznań", "wielkopolskie", "6"), ("Gdańsk", "pomorskie", "8"), ("Łódź", "łódzkie", "9"),
        ],
        ["gmail.com", "wp.pl", "onet.pl", "interia.pl", "o2.pl"],
        ["ul. Marszałkowska", "ul. Długa", "ul. Polna", "ul. Lipowa", "ul. Kościuszki", "ul. Słowackiego"],
    ),
]  # fmt: skip

JOB_TITLES = {
    "ru": ["Генеральный директор", "Менеджер по закупкам", "Коммерческий директор", "Маркетолог",
           "Главный бухгалтер", "Руководитель отдела продаж", "Индивидуальный предприниматель",
           "Специалист по снабжению", "Владелец", ""],
    "en": ["CEO", "Head of Procurement", "Marketing Manager", "Founder", "Operations Director",
           "Office Manager", "Sales Director", "Buyer", "CFO", ""],
    "pl": ["Prezes zarządu", "Kierownik zakupów", "Dyrektor handlowy", "Specjalista ds. marketingu",
           "Właściciel", "Księgowa", "Kierownik biura", ""],
}  # fmt: skip

COMPANY_WORDS = {
    "ru": (
        ["ООО «{}»", "АО «{}»", "ИП {}", "ГК «{}»", "ООО «{} Трейд»", "ООО «{} Групп»"],
        ["Ромашка", "Вектор", "Альфа", "Северный ветер", "Техносфера", "СтройИнвест", "Гелиос",
         "Флора", "Меридиан", "Сибирь", "Восход", "Лотос", "Орион", "Полюс", "Радуга", "Кедр"],
    ),
    "en": (
        ["{} Ltd", "{} Group", "{} & Co", "{} Holdings plc", "{} Trading", "{} Studio"],
        ["Northwind", "Bluebell", "Oakridge", "Silverline", "Greenleaf", "Harbour", "Summit",
         "Brightwater", "Kingsway", "Redwood", "Ironbridge", "Meadowbrook", "Foxglove"],
    ),
    "pl": (
        ["{} Sp. z o.o.", "{} S.A.", "PHU {}", "{} i Synowie", "Firma {}"],
        ["Kwiatex", "Budmat", "Polbud", "Transbet", "Agromax", "Mazovia", "Wisła", "Tatry",
         "Bursztyn", "Sokół", "Orzeł", "Lipa"],
    ),
}  # fmt: skip
INDUSTRIES = ["Retail", "Wholesale", "Construction", "Florist", "Manufacturing", "IT", "Logistics",
              "Hospitality", "Education", "Healthcare", "Real estate", "Agriculture"]  # fmt: skip

# Tags ordered by popularity rank (rank 1 most common); the rest are generated below.
TOP_TAGS = [
    "newsletter", "beach", "forest", "income", "investor", "vip", "webinar", "b2b", "b2c", "florist",
    "wedding", "partner", "reseller", "hot", "cold", "trade-show", "upsell", "churn-risk",
    "клиент", "оптовик", "розница", "выставка", "постоянный", "hurtownia", "stały-klient",
    "referral", "black-friday", "spring-sale", "demo-requested", "price-list", "catalog",
    "callback", "loyalty", "birthday-promo", "corporate", "event", "sample-sent", "tender",
]  # fmt: skip

STAGES = ["subscriber", "lead", "mql", "sql", "opportunity", "customer", "disqualified", "recycled"]
STAGE_WEIGHTS = [20, 40, 15, 8, 5, 7, 4, 1]
FUNNEL = ["subscriber", "lead", "mql", "sql", "opportunity", "customer"]
SOURCES = ["manual", "import", "api", "form"]
NOTES = [
    ("Звонил, просил перезвонить после обеда.", False, ""),
    ("Отправили прайс-лист и каталог.", False, ""),
    ("Нет в наличии белых роз, клиент ждёт поставку.", True, "Белые розы"),
    ("Interested in the spring collection, follow up next week.", False, ""),
    ("Asked for a volume discount above 500 units.", False, ""),
    ("Out of stock: cannot sell the 12 l planter until March.", True, "Planter 12 l"),
    ("Prosi o ofertę na dostawę do Krakowa.", False, ""),
    ("Brak towaru w magazynie, klient zrezygnował.", True, "Doniczka ceramiczna"),
    ("Met at the trade show, wants a demo.", False, ""),
    ("Клиент недоволен сроками доставки.", False, ""),
]
DISQUALIFY_REASONS = ["Нет бюджета", "Spam", "Not a decision maker", "Duplicate lead", "Nie odpowiada"]


# --- database plumbing ----------------------------------------------------------------------------


def setup_django() -> None:
    import django

    django.setup()


def model_columns(model: Any, provided: Sequence[str]) -> tuple[list[str], list[Any]]:
    """All concrete columns of `model`: the provided ones first, then constants from field defaults."""
    known = set(provided)
    columns = list(provided)
    constants: list[Any] = []
    for f in model._meta.concrete_fields:
        if f.column in known or f.primary_key:
            continue
        value = f.get_default()
        if value is None and not f.null:
            raise SystemExit(f"generate.py: {model._meta.db_table}.{f.column} is NOT NULL without a default")
        columns.append(f.column)
        constants.append(value)
    return columns, constants


def db_value(value: Any, vendor: str) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return f"{value:%Y-%m-%d %H:%M:%S}" + ("+00" if vendor == "postgresql" else "")
    if isinstance(value, bool) and vendor == "sqlite":
        return int(value)
    return value


class Loader:
    """Bulk writer for one database: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, vendor: str, settings_dict: dict[str, Any]) -> None:
        self.vendor = vendor
        self.dropped: list[tuple[str, str]] = []
        self.bulk = False
        self.conn: Any
        if vendor == "sqlite":
            self.conn = sqlite3.connect(settings_dict["NAME"], isolation_level=None)
            # Bulk-load settings for this connection only (journal mode: see bulk_mode()).
            for pragma in (
                "synchronous=OFF", "foreign_keys=OFF", "temp_store=MEMORY", "cache_size=-1000000",
                "cache_spill=OFF", "busy_timeout=20000", "threads=4",
            ):  # fmt: skip
                self.conn.execute(f"PRAGMA {pragma}")
        else:
            import psycopg

            params: dict[str, Any] = {"dbname": settings_dict["NAME"], **settings_dict.get("OPTIONS", {})}
            for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
                if settings_dict.get(key):
                    params[name] = settings_dict[key]
            self.conn = psycopg.connect(**params, autocommit=True)
            superuser = self.conn.execute(
                "select rolsuper from pg_roles where rolname = current_user"
            ).fetchone()
            self.conn.execute("set synchronous_commit = off")
            self.conn.execute("set maintenance_work_mem = '1GB'")
            if superuser and superuser[0]:
                # Skip the per-row FK trigger checks; the generator's ids are consistent by construction.
                self.conn.execute("set session_replication_role = replica")

    def bulk_mode(self) -> None:
        """SQLite: a rollback journal in memory instead of WAL (no copy of every page through the WAL).

        Needs no other connection open on the file; close() switches back to WAL.
        """
        if self.vendor == "sqlite":
            self.bulk = True
            self.conn.execute("PRAGMA journal_mode=MEMORY")

    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.vendor == "postgresql":
            sql = sql.replace("?", "%s")
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def write(
        self, table: str, columns: list[str], constants: list[Any], rows: Iterable[Sequence[Any]]
    ) -> int:
        consts = tuple(db_value(c, self.vendor) for c in constants)
        n = 0
        if self.vendor == "sqlite":
            marks = ",".join("?" * len(columns))
            sql = f'INSERT INTO "{table}" ({",".join(columns)}) VALUES ({marks})'
            cur = self.conn.cursor()
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(tuple(row) + consts)
                if len(batch) >= 10_000:
                    cur.executemany(sql, batch)
                    n += len(batch)
                    batch.clear()
            if batch:
                cur.executemany(sql, batch)
                n += len(batch)
            return n
        with self.conn.cursor() as cur, cur.copy(f'COPY "{table}" ({",".join(columns)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(tuple(row) + consts)
                n += 1
        return n

    def drop_secondary_indexes(self, tables: list[str]) -> None:
        """Drop plain (non-constraint) indexes; recreate_indexes() builds them again after the load."""
        if self.vendor == "sqlite":
            marks = ",".join("?" * len(tables))
            found = self.conn.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({marks})",
                tables,
            ).fetchall()
        else:
            found = self.conn.execute(
                """select ic.relname, pg_get_indexdef(i.indexrelid) from pg_index i
                   join pg_class ic on ic.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
                   where t.relname = any(%s) and t.relnamespace = 'public'::regnamespace
                     and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)""",
                (tables,),
            ).fetchall()
        for name, sql in found:
            self.conn.execute(f'DROP INDEX "{name}"')
            self.dropped.append((name, sql))

    def recreate_indexes(self) -> None:
        for _name, sql in self.dropped:
            self.conn.execute(sql)
        self.dropped.clear()

    def fix_sequences(self, tables: list[str]) -> None:
        if self.vendor == "postgresql":
            for table in tables:
                self.conn.execute(
                    f"select setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'coalesce((select max(id) from "{table}"), 0) + 1, false)'
                )

    def analyze(self, tables: list[str]) -> None:
        if self.vendor == "sqlite":
            self.conn.execute("ANALYZE")
            self.conn.execute("PRAGMA optimize")
        else:
            # VACUUM sets the visibility map so index-only scans work, as autovacuum would later.
            for table in tables:
                self.conn.execute(f'VACUUM (ANALYZE) "{table}"')

    def size_bytes(self) -> int:
        if self.vendor == "sqlite":
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            return int(pages * self.conn.execute("PRAGMA page_size").fetchone()[0])
        return int(self.conn.execute("select pg_database_size(current_database())").fetchone()[0])

    def table_sizes(self, tables: list[str]) -> dict[str, int]:
        if self.vendor == "sqlite":
            try:
                rows = self.conn.execute(
                    "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) FROM dbstat s "
                    "LEFT JOIN sqlite_master m ON m.name = s.name GROUP BY 1"
                ).fetchall()
            except sqlite3.OperationalError:  # SQLite built without dbstat
                return {}
            return {t: int(b) for t, b in rows if t in tables}
        return {t: int(self.scalar(f"select pg_total_relation_size('\"{t}\"')")) for t in tables}

    def close(self) -> None:
        if self.bulk:
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.close()


# --- data --------------------------------------------------------------------------------------------


def zipf_cumulative(n: int, s: float = 1.0) -> list[float]:
    weights = [1.0 / (rank**s) for rank in range(1, n + 1)]
    total = sum(weights)
    acc = 0.0
    out = []
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def tag_names(n: int) -> list[str]:
    names = list(TOP_TAGS[:n])
    months = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)]
    families = ["campaign", "webinar", "promo", "expo", "mailing", "акция", "kampania"]
    i = 0
    while len(names) < n:
        fam = families[i % len(families)]
        names.append(
            f"{fam}-{months[(i // len(families)) % len(months)]}" + (f"-{i // 168}" if i >= 168 else "")
        )
        i += 1
    return names


class Ts:
    """Fast epoch-seconds to the backend's timestamp text (UTC)."""

    def __init__(self, vendor: str) -> None:
        self.suffix = "+00" if vendor == "postgresql" else ""
        self.days: dict[int, str] = {}

    def __call__(self, epoch: int) -> str:
        day, sec = divmod(epoch, 86400)
        d = self.days.get(day)
        if d is None:
            d = self.days[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        h, rem = divmod(sec, 3600)
        return f"{d} {h:02d}:{rem // 60:02d}:{rem % 60:02d}{self.suffix}"


@dataclass
class Plan:
    contacts: int
    tag_links: int
    tags: int
    users: int
    companies: int
    activities_per_contact: float
    seed: int
    end: dt.date
    counts: dict[str, int] = field(default_factory=dict)


def make_users(plan: Plan) -> dict[str, Any]:
    """Teams and users via the ORM (few rows); all share one password hash."""
    from django.contrib.auth.hashers import make_password

    from leadbridge.accounts.models import Team, User

    pw = make_password(PASSWORD)
    team_names = ["Sales Moscow", "Sales St Petersburg", "Sales Warsaw", "Sales London", "Sales Kazan",
                  "Sales Kraków", "Sales Novosibirsk", "Sales Manchester"]  # fmt: skip
    n_teams = max(1, min(len(team_names), plan.users // 8))
    teams = [Team.objects.get_or_create(name=name)[0] for name in team_names[:n_teams]]
    fixed = [("bench_admin", "admin"), ("bench_director", "director"), ("bench_marketing", "marketing"),
             ("bench_dq", "data_quality"), ("bench_guest", "guest")]  # fmt: skip
    specs: list[tuple[str, str, Any]] = [(u, r, None) for u, r in fixed]
    for i, team in enumerate(teams, 1):
        specs.append((f"bench_head{i:02d}", "sales_head", team))
    i = 0
    while len(specs) < max(plan.users, len(fixed) + 2 * n_teams):
        specs.append((f"bench_sales{i + 1:02d}", "sales", teams[i % n_teams]))
        i += 1
    rng = random.Random(plan.seed)
    users: list[Any] = []
    for username, role, team in specs:
        loc = LOCALES[rng.randrange(3)]
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "role": role, "team": team, "password": pw, "is_active": True,
                "first_name": rng.choice(loc.male + loc.female), "last_name": rng.choice(loc.last),
                "email": f"{username}@bench.example",
            },
        )  # fmt: skip
        users.append(user)
    for team, head in zip(teams, [u for u in users if u.role == "sales_head"], strict=False):
        team.head = head
        team.save(update_fields=["head"])
    sales = [u for u in users if u.role in {"sales", "sales_head"}]
    return {"teams": teams, "users": users, "owners": [(u.pk, u.team_id) for u in sales]}


def company_rows(
    plan: Plan, rng: random.Random, ts: Ts, owner_ids: list[int], start: int, span: int, domains: list[str]
) -> Iterator[tuple[Any, ...]]:
    for cid in range(1, plan.companies + 1):
        loc = LOCALES[0 if rng.random() < 0.5 else (1 if rng.random() < 0.6 else 2)]
        forms, words = COMPANY_WORDS[loc.key]
        word = rng.choice(words)
        name = rng.choice(forms).format(f"{word} {cid}" if rng.random() < 0.7 else word)
        city, _region, _ = rng.choice(loc.cities)
        created = start + rng.randrange(span)
        domains.append(f"{ascii_slug(word).replace(' ', '-')}-{cid}.example")
        yield (
            cid, name, domains[-1], rng.choice(INDUSTRIES), "",
            city, loc.country, "", rng.choice((5, 12, 40, 150, 800, 3000)), rng.choice(owner_ids),
            ts(created), ts(created),
        )  # fmt: skip


def generate(plan: Plan, loader: Loader, people: dict[str, Any], timings: dict[str, float]) -> None:
    from leadbridge.contacts.models import Activity, Company, Contact, ContactTag, Note, StageChange, Tag

    vendor = loader.vendor
    ts = Ts(vendor)
    rng = random.Random(plan.seed)
    end = int(dt.datetime(plan.end.year, plan.end.month, plan.end.day, tzinfo=dt.UTC).timestamp())
    span = 730 * 86400
    start = end - span
    owners: list[tuple[int, int | None]] = people["owners"]
    owner_ids = [o for o, _ in owners]
    counts = plan.counts

    t0 = time.perf_counter()
    loader.begin()
    tables = [m._meta.db_table for m in (Company, Tag, Contact, ContactTag, StageChange, Activity, Note)]
    loader.drop_secondary_indexes(tables)

    # Tags: popularity rank = id order.
    names = tag_names(plan.tags)
    cols, consts = model_columns(Tag, ["id", "name", "key", "color", "created_at"])
    palette = ["#e11d48", "#2563eb", "#16a34a", "#f59e0b", "#7c3aed", "#0891b2", ""]
    counts["tags"] = loader.write(
        Tag._meta.db_table, cols, consts,
        ((i + 1, n, n.lower(), palette[i % len(palette)], ts(start + i * 3600)) for i, n in enumerate(names)),
    )  # fmt: skip
    cols, consts = model_columns(
        Company,
        ["id", "name", "domain", "industry", "phone", "city", "country", "address", "employees", "owner_id",
         "created_at", "updated_at"],
    )  # fmt: skip
    domains: list[str] = []
    counts["companies"] = loader.write(
        Company._meta.db_table, cols, consts, company_rows(plan, rng, ts, owner_ids, start, span, domains)
    )
    timings["tags_companies"] = time.perf_counter() - t0

    # Tags per contact: exponential around the mean, then nudged so the total is exact.
    n = plan.contacts
    max_k = min(plan.tags, 20)
    if plan.tag_links > n * max_k:
        raise SystemExit(f"--tag-links {plan.tag_links} exceeds {max_k} per contact")
    mean = plan.tag_links / n if n else 0
    per = [min(max_k, int(rng.expovariate(1 / mean) + 0.5)) if mean else 0 for _ in range(n)]
    diff = plan.tag_links - sum(per)
    while diff:
        i = rng.randrange(n)
        if diff > 0 and per[i] < max_k:
            per[i] += 1
            diff -= 1
        elif diff < 0 and per[i] > 0:
            per[i] -= 1
            diff += 1
    cum = zipf_cumulative(plan.tags, 1.0)

    contact_cols, contact_consts = model_columns(
        Contact,
        ["id", "name", "first_name", "last_name", "email", "phone", "company_id", "job_title", "street", "city",
         "region", "postal_code", "country", "ip_address", "geo_city", "geo_country", "birthday", "owner_id",
         "stage", "score", "external_id", "created_at", "updated_at"],
    )  # fmt: skip
    link_cols, link_consts = model_columns(ContactTag, ["contact_id", "tag_id"])
    sc_cols, sc_consts = model_columns(StageChange, ["contact_id", "from_stage", "to_stage", "actor_id", "reason", "occurred_at"])  # fmt: skip
    act_cols, act_consts = model_columns(
        Activity, ["contact_id", "kind", "actor_id", "payload", "occurred_at"]
    )
    note_cols, note_consts = model_columns(
        Note,
        ["id", "contact_id", "author_id", "body", "is_product_issue", "product", "resolved_at", "created_at"],
    )
    stage_cum: list[float] = []
    acc = 0
    for w in STAGE_WEIGHTS:
        acc += w
        stage_cum.append(acc / sum(STAGE_WEIGHTS))
    loc_cum = [0.5, 0.8, 1.0]
    locale_seq = [0, 0, 0]  # per-locale counters keep phones unique
    pl_prefixes = ["50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"]
    uk_prefixes = ["71", "73", "74", "75", "78"]
    extra_mean = max(0.0, plan.activities_per_contact - 1.0)
    note_id = 0
    # Timeline payloads are the JSON the services write; pre-encoded where the shape is fixed.
    created_payload = {s: json.dumps({"source": s}) for s in SOURCES}
    updated_payload = json.dumps({"before": {"job_title": ""}, "after": {"job_title": "Buyer"}})
    tag_json = [""] + [json.dumps(name, ensure_ascii=False) for name in names]
    notes_json = [
        (
            body,
            issue,
            product,
            f'{json.dumps(issue)}, "excerpt": {json.dumps(body[:200], ensure_ascii=False)}}}',
        )
        for body, issue, product in NOTES
    ]
    payload_cache: dict[tuple[str, str, str], str] = {}

    def jdump(d: dict[str, str]) -> str:
        key = (d["from"], d["to"], d["reason"])
        out = payload_cache.get(key)
        if out is None:
            out = payload_cache[key] = json.dumps(d, ensure_ascii=False)
        return out

    is_bool_int = vendor == "sqlite"
    for c in ("contacts", "tag_links", "stage_changes", "activities", "notes"):
        counts[c] = 0

    t1 = time.perf_counter()
    for lo in range(1, n + 1, CHUNK):
        hi = min(n, lo + CHUNK - 1)
        contacts: list[tuple[Any, ...]] = []
        links: list[tuple[int, int]] = []
        changes: list[tuple[Any, ...]] = []
        acts: list[tuple[Any, ...]] = []
        notes: list[tuple[Any, ...]] = []
        for cid in range(lo, hi + 1):
            li = bisect.bisect_left(loc_cum, rng.random())
            loc = LOCALES[li]
            seq = locale_seq[li]
            locale_seq[li] += 1
            female = rng.random() < 0.5
            first = rng.choice(loc.female if female else loc.male)
            last = rng.choice(loc.last)
            if female:
                last = ru_female(last) if li == 0 else (pl_female(last) if li == 2 else last)
            if li == 0:
                phone = f"+79{(seq * 7_368_787 + 1_234_567) % 1_000_000_000:09d}"
            elif li == 1:
                phone = f"+44{uk_prefixes[seq % 5]}{(seq // 5 * 7_368_787 + 4_321) % 100_000_000:08d}"
            else:
                phone = f"+48{pl_prefixes[seq % 12]}{(seq // 12 * 736_883 + 12_345) % 10_000_000:07d}"
            company_id = (
                int(plan.companies * rng.random() ** 1.6) + 1
                if plan.companies and rng.random() < 0.7
                else None
            )
            r = rng.random()
            if r < 0.05:
                email = ""
            else:
                domain = (
                    domains[company_id - 1]
                    if company_id and r < 0.35
                    else loc.free_mail[cid % len(loc.free_mail)]
                )
                email = f"{ascii_slug(first)[0]}.{ascii_slug(last)}{cid}@{domain}"
            if rng.random() < 0.1 and email:
                phone = ""
            city, region, postal = rng.choice(loc.cities)
            has_ip = rng.random() < 0.4
            owner = owners[int(len(owners) * rng.random() ** 1.3)] if owners and rng.random() < 0.95 else None
            owner_id = owner[0] if owner else None
            created = start + int((cid - 1) * span / n) + rng.randrange(3600)
            created = min(created, end - 60)
            stage = STAGES[bisect.bisect_left(stage_cum, rng.random())]
            # Stage history: created as subscriber or lead, then forward to the final stage.
            if stage in FUNNEL:
                first_stage = "subscriber" if stage == "subscriber" or rng.random() < 0.3 else "lead"
                path = FUNNEL[FUNNEL.index(first_stage) : FUNNEL.index(stage) + 1]
            else:
                path = ["lead", "mql", stage] if rng.random() < 0.5 else ["lead", stage]
            room = max(60, end - created)
            steps = sorted(created + rng.randrange(room) for _ in path[1:])
            updated = steps[-1] if steps else created
            source = SOURCES[cid % 4]
            created_s = ts(created)
            contacts.append(
                (
                    cid, f"{first} {last}", first, last, email, phone, company_id,
                    rng.choice(JOB_TITLES[loc.key]),
                    f"{rng.choice(loc.streets)}, {rng.randrange(1, 120)}" if rng.random() < 0.3 else "",
                    city, region, f"{postal}{rng.randrange(1000, 9999)}" if rng.random() < 0.5 else "",
                    loc.country,
                    f"{rng.choice((5, 31, 46, 77, 81, 91, 95, 109, 176, 188))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                    if has_ip else None,
                    city if has_ip else "", loc.country if has_ip else "",
                    f"{rng.randrange(1955, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
                    if rng.random() < 0.25 else None,
                    owner_id, stage, min(100, int(rng.expovariate(1 / 18))),
                    f"crm-{cid:07d}" if cid % 2 == 0 else None, created_s, ts(updated),
                )
            )  # fmt: skip
            changes.append((cid, "", path[0], owner_id, f"created ({source})", created_s))
            acts.append((cid, "contact_created", owner_id, created_payload[source], created_s))
            for prev, nxt, when in zip(path, path[1:], steps, strict=False):
                reason = rng.choice(DISQUALIFY_REASONS) if nxt in {"disqualified", "recycled"} else ""
                when_s = ts(when)
                changes.append((cid, prev, nxt, owner_id, reason, when_s))
                acts.append(
                    (cid, "stage_changed", owner_id,
                     jdump({"from": prev, "to": nxt, "reason": reason}), when_s)
                )  # fmt: skip
            # Tags (Zipf-like popularity), with a timeline row saying they were added.
            k = per[cid - 1]
            chosen: set[int] = set()
            while len(chosen) < k:
                chosen.add(bisect.bisect_left(cum, rng.random()) + 1)
            tag_ids = sorted(chosen)
            links.extend((cid, t) for t in tag_ids)
            # Extra timeline rows so the average lands near --activities-per-contact.
            extra = max(0, round(rng.uniform(0, 2 * extra_mean)) - len(path) + 1)
            if tag_ids and extra:
                acts.append(
                    (cid, "tags_changed", owner_id,
                     '{"added": [' + ", ".join(tag_json[t] for t in tag_ids[:5]) + '], "removed": []}',
                     ts(created + 5))
                )  # fmt: skip
                extra -= 1
            for _ in range(extra):
                when = created + rng.randrange(room)
                if rng.random() < 0.5:
                    body, issue, product, body_json = rng.choice(notes_json)
                    note_id += 1
                    notes.append(
                        (
                            note_id,
                            cid,
                            owner_id,
                            body,
                            int(issue) if is_bool_int else issue,
                            product,
                            None,
                            ts(when),
                        )
                    )
                    payload = f'{{"note_id": {note_id}, "product_issue": {body_json}'
                    acts.append((cid, "note_added", owner_id, payload, ts(when)))
                else:
                    acts.append((cid, "contact_updated", owner_id, updated_payload, ts(when)))
        counts["contacts"] += loader.write(Contact._meta.db_table, contact_cols, contact_consts, contacts)
        counts["tag_links"] += loader.write(ContactTag._meta.db_table, link_cols, link_consts, links)
        counts["stage_changes"] += loader.write(StageChange._meta.db_table, sc_cols, sc_consts, changes)
        counts["activities"] += loader.write(Activity._meta.db_table, act_cols, act_consts, acts)
        counts["notes"] += loader.write(Note._meta.db_table, note_cols, note_consts, notes)
    timings["contacts_and_history"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    loader.recreate_indexes()
    loader.fix_sequences(tables)
    loader.commit()
    timings["indexes"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    loader.analyze(tables)
    timings["analyze"] = time.perf_counter() - t3


def reset(loader: Loader) -> None:
    """Delete contacts and what hangs off them, companies and tags (bench users stay)."""
    from django.apps import apps

    from leadbridge.contacts.models import Company, Contact, Tag

    if loader.vendor == "postgresql":
        names = [m._meta.db_table for m in (Contact, Company, Tag)]
        loader.conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in names) + " RESTART IDENTITY CASCADE")
        return
    # SQLite: every table with a FK to contacts/companies/tags, children first.
    targets = {Contact, Company, Tag}
    children = [
        m for m in apps.get_models()
        if m not in targets and any(getattr(f, "related_model", None) in targets for f in m._meta.concrete_fields)
    ]  # fmt: skip
    loader.begin()
    for m in [*children, Contact, Company, Tag]:
        loader.conn.execute(f'DELETE FROM "{m._meta.db_table}"')
    names = ",".join(f"'{m._meta.db_table}'" for m in [*children, Contact, Company, Tag])
    loader.conn.execute(f"DELETE FROM sqlite_sequence WHERE name IN ({names})")
    loader.commit()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--tag-links", type=int, default=None, help="default: 3 per contact")
    p.add_argument("--tags", type=int, default=500)
    p.add_argument("--users", type=int, default=40)
    p.add_argument("--companies", type=int, default=None, help="default: one per 50 contacts")
    p.add_argument("--activities-per-contact", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--end", type=dt.date.fromisoformat, default=dt.datetime.now(dt.UTC).date(),
                   help="last day of the two-year created_at window (default: today, UTC)")  # fmt: skip
    p.add_argument("--reset", action="store_true", help="delete existing contacts, companies and tags first")
    args = p.parse_args(argv)
    plan = Plan(
        contacts=args.contacts,
        tag_links=args.contacts * 3 if args.tag_links is None else args.tag_links,
        tags=args.tags,
        users=args.users,
        companies=max(1, args.contacts // 50) if args.companies is None else args.companies,
        activities_per_contact=args.activities_per_contact,
        seed=args.seed,
        end=args.end,
    )
    if plan.contacts < 1 or plan.tags < 1 or plan.users < 1:
        p.error("--contacts, --tags and --users must be at least 1")

    t_start = time.perf_counter()
    load_start = round(os.getloadavg()[0], 2)  # other work on the machine skews the seconds
    timings: dict[str, float] = {}
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from leadbridge.contacts.models import Contact
    from leadbridge.contacts.setup import ensure_defaults

    call_command("migrate", interactive=False, verbosity=0)
    ensure_defaults()
    timings["migrate"] = time.perf_counter() - t_start
    vendor = connection.vendor
    existing = Contact.objects.count()
    connection.close()
    if existing:
        if not args.reset:
            raise SystemExit(
                f"generate.py: the database already has {existing} contacts; pass --reset to replace them"
            )
        t = time.perf_counter()
        loader = Loader(vendor, connection.settings_dict)
        try:
            reset(loader)
        finally:
            loader.close()
        timings["reset"] = time.perf_counter() - t
    t = time.perf_counter()
    people = make_users(plan)
    connection.close()
    timings["users"] = time.perf_counter() - t
    loader = Loader(vendor, connection.settings_dict)
    try:
        loader.bulk_mode()
        generate(plan, loader, people, timings)
        size = loader.size_bytes()
        from leadbridge.contacts.models import Activity, Company, ContactTag, Note, StageChange, Tag

        tables = [m._meta.db_table for m in (Contact, ContactTag, Activity, StageChange, Note, Company, Tag)]
        table_sizes = loader.table_sizes(tables)
    finally:
        loader.close()
    timings["total"] = time.perf_counter() - t_start
    users = people["users"]
    sales = next(u for u in users if u.role == "sales")
    out = {
        "database": vendor,
        "name": str(connection.settings_dict["NAME"]),
        "seed": plan.seed,
        "end": plan.end.isoformat(),
        "rows": {"teams": len(people["teams"]), "users": len(users), **plan.counts},
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "contacts_per_second": round(plan.counts["contacts"] / timings["contacts_and_history"]),
        "cpu_seconds_this_process": round(time.process_time(), 1),
        "load_average_1m": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
        "size_bytes": size,
        "bytes_per_contact": round(size / plan.counts["contacts"]),
        "table_bytes": table_sizes,
        "login": {"admin": "bench_admin", "sales": sales.username, "password": PASSWORD},
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
