"""The segment builder in a real browser, on the realtor's small data set (Brian: summer_house,
beach; Jenny: homeowner, beach, forest; David: investor, income): build a filter with the tree and
see its text and count, type text with an error and see the message and the caret where it is,
fix it and see the tree rebuilt, save, and find the members on the segment's page. A wrong row in
the tree is marked; keyboard use; a sales user's read-only view; the builder in Russian.

Every test fails on a JavaScript error or a console error the test did not expect (ConsoleWatch);
the preview's 400 answers to filters with errors are expected and allowed where they happen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from leadbridge.contacts import services as contact_services
from leadbridge.contacts.models import Contact
from leadbridge.segments.models import Segment
from tests.e2e.conftest import login
from tests.e2e.test_capture_settings import ConsoleWatch
from tests.factories import user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Secret-pass-1"  # tests.factories.UserFactory's
PREVIEW_400 = r"status of 400 .*/segments/preview/"


@pytest.fixture
def console(page: Any) -> Iterator[ConsoleWatch]:
    watch = ConsoleWatch(page)
    yield watch
    watch.check()


@pytest.fixture
def realtor(transactional_db: Any) -> dict[str, Contact]:
    boss = user("admin", username="boss")
    rows = {
        "brian": ("Brian", "brian@example.com", "summer_house; beach"),
        "jenny": ("Jenny", "jenny@example.com", "homeowner; beach; forest"),
        "david": ("David", "david@example.com", "investor; income"),
    }
    return {
        key: contact_services.contact_create(actor=boss, data={"name": name, "email": email, "tags": tags})
        for key, (name, email, tags) in rows.items()
    }


def root(page: Any) -> Any:
    return page.locator("#sb-tree > .sb-group")


def items(group: Any) -> Any:
    return group.locator(":scope > .sb-children > .sb-item")


def condition(group: Any, index: int) -> Any:
    return items(group).nth(index)


def set_condition(row: Any, field: str, value: str = "", operator: str | None = None) -> None:
    row.locator("[data-role=field]").select_option(field)
    if operator is not None:
        row.locator("[data-role=operator]").select_option(operator)
    if value:
        row.locator("[data-role=value]").fill(value)


def add_condition(group: Any) -> Any:
    group.locator(":scope > .sb-group-head [data-role=add-cond]").click()
    return items(group).last


def members(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#sb-members li a").all_inner_texts()]


def open_builder(page: Any, live_server: Any, username: str) -> None:
    login(page, live_server, username, PASSWORD)
    page.click("[data-nav=segments]")
    page.wait_for_url("**/segments/")
    page.click("[data-testid=segment-new]")
    page.wait_for_url("**/segments/new/")
    expect(page.locator("#sb-tree-card")).to_be_visible()


# --- 1. build, type, fix, save -----------------------------------------------------------------------


def test_build_visually_type_with_an_error_fix_and_save(
    page: Any, live_server: Any, realtor: dict[str, Contact], console: ConsoleWatch
) -> None:
    user("marketing", username="mary")
    open_builder(page, live_server, "mary")
    text = page.locator("#id_filter")
    count = page.locator("[data-testid=sb-count]")
    tree = root(page)
    expect(tree.locator("[data-role=empty]")).to_be_visible()

    # tag:beach
    row = add_condition(tree)
    expect(row.locator("[data-role=field]")).to_be_focused()
    set_condition(row, "@tag", "beach")
    expect(text).to_have_value("tag:beach")
    expect(count).to_have_text("2")
    assert sorted(members(page)) == ["Brian", "Jenny"]

    # and ( tag:forest ... tag:income ): a group, first with AND, then switched to OR
    tree.locator(":scope > .sb-group-head [data-role=add-group]").click()
    group = items(tree).nth(1)
    expect(group).to_have_class("sb-group sb-item sb-or")
    set_condition(condition(group, 0), "@tag", "forest")
    set_condition(add_condition(group), "@tag", "income")
    group.locator(":scope > .sb-group-head [data-role=op]").select_option("and")
    expect(text).to_have_value("tag:beach and tag:forest and tag:income")
    expect(count).to_have_text("0")
    group.locator(":scope > .sb-group-head [data-role=op]").select_option("or")
    expect(text).to_have_value("tag:beach and (tag:forest or tag:income)")
    expect(count).to_have_text("1")
    assert members(page) == ["Jenny"]

    # NOT on the group turns it around; off again.
    group.locator(":scope > .sb-group-head [data-role=not]").check()
    expect(text).to_have_value("tag:beach and not (tag:forest or tag:income)")
    expect(count).to_have_text("1")
    assert members(page) == ["Brian"]
    group.locator(":scope > .sb-group-head [data-role=not]").uncheck()
    expect(text).to_have_value("tag:beach and (tag:forest or tag:income)")
    expect(count).to_have_text("1")

    # Text with an error: the message, the marker and the caret at the position.
    console.allow(PREVIEW_400)
    text.fill("tag:beach and (tag:forest or or tag:income) or tag:investor")
    error = page.locator("[data-testid=filter-error]")
    expect(error).to_have_text("Position 29: expected a condition, found 'or'")
    mark = page.locator("[data-testid=filter-error-mark]")
    expect(mark).to_have_attribute("data-position", "29")
    expect(mark).to_have_text("o")
    assert page.evaluate("[document.activeElement.id, document.activeElement.selectionStart]") == [
        "id_filter",
        29,
    ]
    assert items(tree).count() == 2  # the tree keeps the last filter that could be read

    # Fix it where the caret is: the tree is rebuilt from the text.
    for _ in range(3):
        page.keyboard.press("Delete")
    expect(text).to_have_value("tag:beach and (tag:forest or tag:income) or tag:investor")
    expect(error).to_have_text("")
    expect(mark).to_have_count(0)
    expect(count).to_have_text("2")
    assert sorted(members(page)) == ["David", "Jenny"]
    expect(tree.locator(":scope > .sb-group-head [data-role=op]")).to_have_value("or")
    inner = condition(tree, 0)
    expect(inner.locator(":scope > .sb-group-head [data-role=op]")).to_have_value("and")
    expect(condition(inner, 0).locator("[data-role=value]")).to_have_value("beach")
    nested = condition(inner, 1)
    expect(nested.locator(":scope > .sb-group-head [data-role=op]")).to_have_value("or")
    assert [condition(nested, i).locator("[data-role=value]").input_value() for i in range(2)] == [
        "forest",
        "income",
    ]
    investor = condition(tree, 1)
    expect(investor.locator("[data-role=field]")).to_have_value("@tag")
    expect(investor.locator("[data-role=value]")).to_have_value("investor")
    assert text.evaluate("t => t === document.activeElement")  # typing goes on undisturbed

    # Save; the segment's page lists the members.
    page.fill("#id_name", "Nature lovers")
    page.fill("#id_description", "Beach with forest or income, and investors")
    page.click("[data-testid=segment-save]")
    page.wait_for_url("**/segments/*/")
    segment = Segment.objects.get()
    assert page.url.endswith(f"/segments/{segment.pk}/")
    assert segment.filter_text == "tag:beach and (tag:forest or tag:income) or tag:investor"
    assert segment.owner is not None and segment.owner.username == "mary"
    assert "Segment saved." in page.inner_text(".messages")
    assert page.inner_text("[data-testid=segment-count]") == "2"
    names = [t.strip() for t in page.locator(".segment-members tbody tr td:first-child").all_inner_texts()]
    assert names == ["David", "Jenny"]
    assert page.inner_text("[data-testid=segment-filter]") == segment.filter_text

    # Edit: the builder opens with the saved filter as a tree.
    page.click("a:has-text('Edit')")
    page.wait_for_url(f"**/segments/{segment.pk}/edit/")
    expect(page.locator("[data-testid=sb-count]")).to_have_text("2")
    expect(root(page).locator(":scope > .sb-group-head [data-role=op]")).to_have_value("or")
    expect(items(root(page))).to_have_count(2)


# --- 2. a wrong row in the tree --------------------------------------------------------------------


def test_a_wrong_value_marks_its_row_and_blocks_saving(
    page: Any, live_server: Any, realtor: dict[str, Contact], console: ConsoleWatch
) -> None:
    user("admin", username="boss2")
    open_builder(page, live_server, "boss2")
    console.allow(PREVIEW_400)
    tree = root(page)
    text = page.locator("#id_filter")
    set_condition(add_condition(tree), "@tag", "beach")
    expect(text).to_have_value("tag:beach")

    # A number field given a word: the tree's own error, on the row.
    row = add_condition(tree)
    set_condition(row, "score", "lots", operator=">=")
    expect(row).to_have_class("sb-cond sb-item sb-invalid")
    expect(row.locator("[data-role=error]")).to_contain_text("expected a number")
    expect(row.locator("[data-role=value]")).to_have_attribute("aria-invalid", "true")
    expect(condition(tree, 0)).not_to_have_class("sb-cond sb-item sb-invalid")
    page.fill("#id_name", "Never saved")
    page.click("[data-testid=segment-save]")
    expect(page.locator("[data-testid=filter-error]")).to_contain_text("Correct the marked condition first.")
    assert not Segment.objects.exists()

    # A stage that does not exist: found when compiling; the text shows where, the row is marked.
    set_condition(row, "stage", "hott", operator="=")
    expect(text).to_have_value("tag:beach and stage = hott")
    expect(page.locator("[data-testid=filter-error-mark]")).to_have_attribute("data-position", "22")
    expect(row).to_have_class("sb-cond sb-item sb-invalid")

    # Fixed: the marks go, the count comes back, and it saves.
    row.locator("[data-role=value]").fill("lead")
    expect(text).to_have_value("tag:beach and stage = lead")
    expect(row).to_have_class("sb-cond sb-item")
    expect(page.locator("[data-testid=filter-error-mark]")).to_have_count(0)
    expect(page.locator("[data-testid=sb-count]")).to_have_text("2")

    # A typed condition (what the row editor has no form for) goes along as text.
    typed = add_condition(tree)
    set_condition(typed, "@text", 'email ~ "jenny"')
    expect(text).to_have_value('tag:beach and stage = lead and email ~ "jenny"')
    expect(page.locator("[data-testid=sb-count]")).to_have_text("1")
    page.click("[data-testid=segment-save]")
    page.wait_for_url("**/segments/*/")
    assert Segment.objects.get().filter_text == 'tag:beach and stage = lead and email ~ "jenny"'


def test_editing_a_segment_shows_a_cycle_before_saving(
    page: Any, live_server: Any, realtor: dict[str, Contact], console: ConsoleWatch
) -> None:
    from leadbridge.segments import services as segment_services

    boss = user("admin", username="boss3")
    beach = segment_services.segment_create(actor=boss, name="Beach", filter="tag:beach")
    segment_services.segment_create(
        actor=boss, name="Beach forest", filter='in segment("beach") and tag:forest'
    )
    login(page, live_server, "boss3", PASSWORD)
    page.goto(f"{live_server.url}/segments/{beach.pk}/edit/")
    console.allow(PREVIEW_400)
    text = page.locator("#id_filter")
    text.fill('tag:investor or in segment("beach forest")')
    expect(page.locator("[data-testid=filter-error]")).to_contain_text("beach → beach forest → beach")
    expect(page.locator("[data-testid=filter-error-mark]")).to_have_attribute("data-position", "16")
    text.fill("tag:investor or tag:forest")
    expect(page.locator("[data-testid=filter-error]")).to_have_text("")
    expect(page.locator("[data-testid=sb-count]")).to_have_text("2")


# --- 3. keyboard -----------------------------------------------------------------------------------


def test_the_builder_works_from_the_keyboard(
    page: Any, live_server: Any, realtor: dict[str, Contact], console: ConsoleWatch
) -> None:
    user("sales_head", username="helen")
    open_builder(page, live_server, "helen")
    tree = root(page)
    add = tree.locator(":scope > .sb-group-head [data-role=add-cond]")
    add.focus()
    page.keyboard.press("Enter")
    row = items(tree).last
    field = row.locator("[data-role=field]")
    expect(field).to_be_focused()
    assert field.get_attribute("aria-label") == "Field"
    field.select_option("@tag")
    expect(row.locator("[data-role=field]")).to_be_focused()  # kept across the re-render
    page.keyboard.press("Tab")
    value = row.locator("[data-role=value]")
    expect(value).to_be_focused()
    page.keyboard.type("investor")
    expect(page.locator("#id_filter")).to_have_value("tag:investor")
    # NOT with the space bar: Shift+Tab back to the row's checkbox.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(row.locator("[data-role=not]")).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("#id_filter")).to_have_value("not tag:investor")
    expect(page.locator("[data-testid=sb-count]")).to_have_text("2")
    # Remove the row with the keyboard: focus goes back to the group's "+ Condition".
    row.locator("[data-role=remove]").focus()
    page.keyboard.press("Enter")
    expect(items(tree)).to_have_count(0)
    expect(add).to_be_focused()


# --- 4. other roles and languages ------------------------------------------------------------------


def test_sales_use_segments_read_only(
    page: Any, live_server: Any, realtor: dict[str, Contact], console: ConsoleWatch
) -> None:
    anna = user("sales", username="anna")
    Contact.objects.filter(pk=realtor["jenny"].pk).update(owner=anna)
    mia = user("marketing", username="mia")
    from leadbridge.segments.services import segment_create

    segment = segment_create(actor=mia, name="Beach", filter="tag:beach")
    login(page, live_server, "anna", PASSWORD)
    page.click("[data-nav=segments]")
    page.wait_for_url("**/segments/")
    assert page.locator("[data-testid=segment-new]").count() == 0
    row = page.locator(f"tr[data-segment-id='{segment.pk}']")
    row.locator("[data-testid=count-button]").click()
    expect(row.locator("[data-testid=segment-count]")).to_have_text("1")  # only the contacts she sees
    row.locator("a:has-text('Beach')").click()
    page.wait_for_url(f"**/segments/{segment.pk}/")
    names = [t.strip() for t in page.locator(".segment-members tbody tr td:first-child").all_inner_texts()]
    assert names == ["Jenny"]
    assert page.locator("a:has-text('Edit')").count() == 0
    assert page.locator("[data-testid=segment-export]").count() == 0


def test_the_builder_in_russian(
    page: Any, live_server: Any, realtor: dict[str, Contact], console: ConsoleWatch
) -> None:
    user("marketing", username="masha", language="ru")
    login(page, live_server, "masha", PASSWORD)
    page.goto(f"{live_server.url}/segments/new/")
    assert page.inner_text("h1") == "Новый сегмент"
    tree = root(page)
    row = add_condition(tree)
    assert row.locator("[data-role=field] option[value='@tag']").inner_text() == "Тег"
    set_condition(row, "@tag", "beach")
    expect(page.locator("[data-testid=sb-count]")).to_have_text("2")
    console.allow(PREVIEW_400)
    page.fill("#id_filter", "tag:beach and (")
    expect(page.locator("[data-testid=filter-error]")).to_contain_text("Позиция 15")
