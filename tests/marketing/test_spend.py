"""spend_record (upsert), spend totals, and `leadbridge import spend`."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from leadbridge.cli import main
from leadbridge.contacts.csvio import CsvFile
from leadbridge.core.errors import Forbidden, ValidationFailed
from leadbridge.core.models import AuditEntry
from leadbridge.marketing import selectors, services
from leadbridge.marketing.models import Campaign, Channel, Spend
from tests.factories import user

pytestmark = pytest.mark.django_db
D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def test_spend_record_is_an_idempotent_upsert(defaults) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    spend, outcome = services.spend_record(actor=marketer, date=D1, channel="paid_search", amount="100.50")
    assert (outcome, spend.amount, spend.currency, spend.source) == (
        "created",
        Decimal("100.50"),
        "RUB",
        "manual",
    )
    again, outcome = services.spend_record(
        actor=marketer, date="2026-03-01", channel="PAID_SEARCH", amount=Decimal("100.5")
    )
    assert (again.pk, outcome) == (spend.pk, "unchanged")
    changed, outcome = services.spend_record(
        actor=marketer, date=D1, channel="paid_search", amount="120", currency="eur"
    )
    assert (changed.pk, outcome, changed.amount, changed.currency) == (
        spend.pk,
        "updated",
        Decimal("120.00"),
        "EUR",
    )
    assert Spend.objects.count() == 1
    assert AuditEntry.objects.filter(action="spend.record").count() == 2

    # The same day and channel with a campaign is another row; recorded twice, still one.
    campaign = services.campaign_create(
        actor=marketer, data={"name": "Spring", "utm_campaign": "spring", "currency": "USD"}
    )
    for _ in range(2):
        with_campaign, _ = services.spend_record(
            actor=marketer, date=D1, channel="paid_search", campaign="Spring", amount=5
        )
    assert with_campaign.campaign_id == campaign.pk
    assert with_campaign.currency == "USD"  # the campaign's currency when none is given
    assert Spend.objects.count() == 2


def test_spend_channel_defaults_to_the_campaigns(defaults) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    services.campaign_create(
        actor=marketer, data={"name": "VK", "utm_campaign": "vk1", "channel": "paid_social"}
    )
    spend, _ = services.spend_record(actor=marketer, date=D1, channel=None, campaign="vk1", amount=1)
    assert spend.channel.key == "paid_social"


def test_spend_validation_and_roles(defaults) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    with pytest.raises(ValidationFailed) as exc:
        services.spend_record(
            actor=marketer, date="31.02.2026", channel="nope", campaign="ghost", amount="-3", currency="euro"
        )
    assert {e.field for e in exc.value.errors} == {"date", "channel", "campaign", "amount", "currency"}
    with pytest.raises(ValidationFailed) as exc:
        services.spend_record(actor=marketer, date=D1, channel="email", amount="1.005")
    assert [e.field for e in exc.value.errors] == ["amount"]
    for role in ("sales", "sales_head", "guest", "presales"):
        with pytest.raises(Forbidden):
            services.spend_record(actor=user(role, username=f"s-{role}"), date=D1, channel="email", amount=1)
    assert not Spend.objects.exists()


def test_spend_totals_are_grouped_in_sql(defaults, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    spring = services.campaign_create(actor=marketer, data={"name": "Spring", "utm_campaign": "spring"})
    services.spend_record(actor=marketer, date=D1, channel="paid_search", campaign=spring, amount="100")
    services.spend_record(actor=marketer, date=D2, channel="paid_search", campaign=spring, amount="50.25")
    services.spend_record(actor=marketer, date=D2, channel="paid_search", amount="10")
    services.spend_record(actor=marketer, date=D2, channel="email", amount="7", currency="EUR")
    services.spend_record(actor=marketer, date=dt.date(2026, 4, 1), channel="email", amount="1000")
    with django_assert_num_queries(1):
        by_channel = selectors.spend_totals(user=marketer, by="channel", date_from=D1, date_to=D2)
    assert [(r["key"], r["currency"], r["amount"]) for r in by_channel] == [
        ("paid_search", "RUB", Decimal("160.25")),
        ("email", "EUR", Decimal("7.00")),
    ]
    by_campaign = selectors.spend_totals(user=marketer, by="campaign", date_from=D1, date_to=D2)
    assert [(r["key"], r["currency"], r["amount"]) for r in by_campaign] == [
        (spring.pk, "RUB", Decimal("150.25")),
        (None, "RUB", Decimal("10.00")),
        (None, "EUR", Decimal("7.00")),
    ]
    by_day = selectors.spend_totals(user=marketer, by="day", campaign=spring.pk)
    assert [(r["key"], r["amount"]) for r in by_day] == [(D1, Decimal("100.00")), (D2, Decimal("50.25"))]
    assert selectors.spend_by_campaign(user=marketer, campaign_ids=[spring.pk]) == {
        spring.pk: [(Decimal("150.25"), "RUB")]
    }
    with pytest.raises(Forbidden):
        selectors.spend_totals(user=user("sales"), by="channel")


# --- import -------------------------------------------------------------------------------------

GOOD_AND_BAD = (
    "date,channel,campaign,amount,currency\n"
    "2026-03-01,paid_search,spring,1000.00,RUB\n"
    "2026-03-01,Yandex Direct,spring,250,\n"  # a new channel
    "2026-03-02,email,,99.90,EUR\n"
    "2026-13-01,email,,5,RUB\n"  # bad date (row 5)
    "2026-03-03,email,,abc,RUB\n"  # bad amount (row 6)
    "2026-03-03,email,,5,rubles\n"  # bad currency (row 7)
    "2026-03-03,,newsletter_march,12,\n"  # new campaign, no channel -> unknown
)


def _run(path, *args: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["import", "spend", str(path), "--format", "json", *args]) == 0
    return json.loads(out.getvalue())


def test_import_good_and_bad_rows(defaults, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "spend.csv"
    path.write_text(GOOD_AND_BAD, encoding="utf-8")
    summary = _run(path)
    assert (summary["rows"], summary["created"], summary["updated"], summary["skipped"]) == (7, 4, 0, 3)
    assert summary["errors"] == [
        {"row": 5, "field": "date", "message": "Not a date: '2026-13-01' (use YYYY-MM-DD)", "column": "date"},
        {"row": 6, "field": "amount", "message": "Not a number: 'abc'", "column": "amount"},
        {
            "row": 7,
            "field": "currency",
            "message": "Not a currency code: 'rubles' (three letters, e.g. RUB, EUR)",
            "column": "currency",
        },
    ]
    assert summary["created_refs"] == {
        "channels": ["yandex_direct"],
        "campaigns": ["spring", "newsletter_march"],
    }
    assert Channel.objects.get(key="yandex_direct").name == "Yandex Direct"
    newsletter = Spend.objects.get(campaign__utm_campaign="newsletter_march")
    assert (newsletter.channel.key, newsletter.source, newsletter.amount) == (
        "unknown",
        "import",
        Decimal("12.00"),
    )
    assert Campaign.objects.get(utm_campaign="spring").type == "notification"
    assert AuditEntry.objects.filter(action="spend.import").count() == 1

    # Re-running the same file changes nothing.
    before = list(Spend.objects.order_by("pk").values_list("pk", "amount", "updated_at"))
    again = _run(path)
    assert (again["created"], again["updated"], again["unchanged"], again["skipped"]) == (0, 0, 4, 3)
    assert again["created_refs"] == {}
    assert list(Spend.objects.order_by("pk").values_list("pk", "amount", "updated_at")) == before


def test_import_dry_run_saves_nothing(defaults, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "spend.csv"
    path.write_text(GOOD_AND_BAD, encoding="utf-8")
    summary = _run(path, "--dry-run")
    assert (summary["created"], summary["skipped"], summary["dry_run"]) == (4, 3, True)
    assert summary["created_refs"]["channels"] == ["yandex_direct"]
    assert not Spend.objects.exists()
    assert not Channel.objects.filter(key="yandex_direct").exists()
    assert not Campaign.objects.exists()


def test_import_cp1251_semicolons_and_russian_header(defaults, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "расход.csv"
    text = "Дата;Канал;Кампания;Сумма;Валюта\n01.03.2026;Контекст;Весна;1 234,50;руб\n02.03.2026;Контекст;Весна;10;RUB\n"
    path.write_bytes(text.encode("cp1251"))
    summary = _run(path)
    assert (summary["encoding"], summary["delimiter"]) == ("cp1251", ";")
    assert summary["mapping"] == {
        "Дата": "date",
        "Канал": "channel",
        "Кампания": "campaign",
        "Сумма": "amount",
        "Валюта": "currency",
    }
    assert summary["errors"] == [
        {
            "row": 2,
            "field": "currency",
            "message": "Not a currency code: 'руб' (three letters, e.g. RUB, EUR)",
            "column": "Валюта",
        }
    ]
    assert summary["created_refs"] == {"channels": ["kontekst"], "campaigns": ["Весна"]}
    spend = Spend.objects.get()
    assert (spend.date, spend.amount, spend.channel.name, spend.campaign.name) == (  # type: ignore[union-attr]
        dt.date(2026, 3, 2),
        Decimal("10.00"),
        "Контекст",
        "Весна",
    )


def test_import_map_set_and_missing_columns(defaults, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ads.csv"
    path.write_text("Day,Cost,Note\n2026-03-01,10,x\n", encoding="utf-8")
    summary = _run(path, "--map", "Cost=amount", "--set", "channel=display")
    assert summary["created"] == 1 and summary["ignored_columns"] == ["Note"]
    assert Spend.objects.get().channel.key == "display"

    bad = tmp_path / "bad.csv"
    bad.write_text("when,what\n1,2\n", encoding="utf-8")
    assert main(["import", "spend", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lacks required columns" in err


def test_import_via_service_with_actor(defaults, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.csv"
    path.write_text("date,channel,amount\n2026-03-01,email,1\n", encoding="utf-8")
    with CsvFile(path) as source, pytest.raises(Forbidden):
        services.spend_import(actor=user("sales"), source=source)
    with CsvFile(path) as source:
        summary = services.spend_import(actor=user("marketing"), source=source)
    assert summary["created"] == 1
    assert Spend.objects.get().created_by is not None
