"""Classification by sales, review by marketing, resolution by the head of sales, with history."""

from __future__ import annotations

import pytest

from leadbridge.accounts.models import Notification
from leadbridge.capture.models import InquiryReview
from leadbridge.capture.selectors import inquiry_get, inquiry_list, unclassified_queue
from leadbridge.capture.services import (
    inquiry_class_create,
    inquiry_classify,
    inquiry_first_response,
    inquiry_resolve,
    inquiry_review,
)
from leadbridge.contacts.models import Activity
from leadbridge.core import clock
from leadbridge.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from leadbridge.core.models import AuditEntry
from tests.factories import TeamFactory, user


@pytest.fixture
def teams():
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    return {
        "ann": user("sales", username="ann", team=north),
        "bob": user("sales", username="bob", team=north),
        "cid": user("sales", username="cid", team=south),
    }


def test_sales_classify_their_own_and_their_teams_inquiries_only(capture, teams):
    # Round-robin: ann, bob, cid.
    mine, teammates, other_team = (capture(email=f"x{i}@example.com") for i in range(3))
    assert (mine.manager, teammates.manager, other_team.manager) == (teams["ann"], teams["bob"], teams["cid"])
    inquiry_classify(actor=teams["ann"], inquiry_id=mine.pk, class_key="new_lead")
    inquiry_classify(actor=teams["ann"], inquiry_id=teammates.pk, class_key="spam")
    with pytest.raises(NotFound):
        inquiry_classify(actor=teams["ann"], inquiry_id=other_team.pk, class_key="spam")
    assert {i.pk for i in inquiry_list(user=teams["ann"]).items} == {mine.pk, teammates.pk}
    # The head of sales and presales-like roles with all-visibility classify anything.
    head = user("sales_head", username="head")
    inquiry_classify(actor=head, inquiry_id=other_team.pk, class_key="service")
    for role in ("marketing", "guest", "data_quality"):
        with pytest.raises(Forbidden):
            inquiry_classify(actor=user(role, username=f"r-{role}"), inquiry_id=mine.pk, class_key="spam")


def test_classify_writes_history_activity_and_audit_and_leaves_the_queue(capture, teams):
    inquiry = capture(email="q@example.com")
    later = capture(email="q2@example.com")
    # Oldest first; bob (later's manager) is in ann's team.
    assert [i.pk for i in unclassified_queue(user=teams["ann"]).items] == [inquiry.pk, later.pk]
    ann = teams["ann"]
    inquiry_classify(actor=ann, inquiry_id=inquiry.pk, class_key="spam", comment="robot")
    inquiry_classify(actor=ann, inquiry_id=inquiry.pk, class_key="new_lead")
    inquiry.refresh_from_db()
    assert inquiry.cls.key == "new_lead" and inquiry.classified_by == ann and inquiry.classified_at
    history = list(
        InquiryReview.objects.filter(inquiry=inquiry).values_list(
            "action", "from_class__key", "to_class__key", "comment"
        )
    )
    assert history == [("classified", None, "spam", "robot"), ("reclassified", "spam", "new_lead", "")]
    assert Activity.objects.filter(contact=inquiry.contact, kind="inquiry_classified").count() == 2
    assert AuditEntry.objects.filter(object_type="inquiry", object_id=str(inquiry.pk)).count() == 2
    head = user("sales_head", username="head")
    assert [i.pk for i in unclassified_queue(user=head).items] == [later.pk]


def test_unknown_or_inactive_class_is_a_field_error(capture, teams):
    from leadbridge.capture.models import InquiryClass
    from leadbridge.capture.services import inquiry_class_update

    inquiry = capture(email="u@example.com")
    with pytest.raises(ValidationFailed) as exc:
        inquiry_classify(actor=teams["ann"], inquiry_id=inquiry.pk, class_key="nonsense")
    assert exc.value.errors[0].field == "class"
    head = user("sales_head", username="head")
    inquiry_class_update(
        actor=head, class_id=InquiryClass.objects.get(key="job_seeker").pk, data={"is_active": False}
    )
    with pytest.raises(ValidationFailed):
        inquiry_classify(actor=teams["ann"], inquiry_id=inquiry.pk, class_key="job_seeker")


def test_review_dispute_and_resolution_with_full_history(
    capture, teams, mailoutbox, django_capture_on_commit_callbacks
):
    ann = teams["ann"]
    marketer = user("marketing", username="mara", email="mara@example.test")
    head = user("sales_head", username="head", email="head@example.test")
    inquiry = capture(email="r@example.com")
    inquiry_classify(actor=ann, inquiry_id=inquiry.pk, class_key="spam")

    # Marketing may not classify, sales may not review or resolve.
    with pytest.raises(Forbidden):
        inquiry_review(actor=ann, inquiry_id=inquiry.pk, action="confirm")
    with pytest.raises(Forbidden):
        inquiry_resolve(actor=marketer, inquiry_id=inquiry.pk, class_key="new_lead", comment="")
    # A dispute needs a comment; only a disputed class can be resolved.
    with pytest.raises(ValidationFailed) as exc:
        inquiry_review(actor=marketer, inquiry_id=inquiry.pk, action="dispute", comment="  ")
    assert exc.value.errors[0].field == "comment"
    with pytest.raises(Conflict):
        inquiry_resolve(actor=head, inquiry_id=inquiry.pk, class_key="new_lead", comment="")

    with django_capture_on_commit_callbacks(execute=True):
        inquiry_review(
            actor=marketer, inquiry_id=inquiry.pk, action="dispute", comment="Asked for a price: a real lead"
        )
    inquiry.refresh_from_db()
    assert inquiry.review_status == "disputed"
    # The heads of sales hear about it, in the app and by email.
    note = Notification.objects.get(user=head, kind="inquiry_disputed")
    assert str(inquiry.pk) in note.title
    assert [m.to for m in mailoutbox] == [["head@example.test"]]
    # While disputed, sales cannot quietly change the class, and marketing cannot review again.
    with pytest.raises(Conflict):
        inquiry_classify(actor=ann, inquiry_id=inquiry.pk, class_key="new_lead")
    with pytest.raises(Conflict):
        inquiry_review(actor=marketer, inquiry_id=inquiry.pk, action="confirm")

    with django_capture_on_commit_callbacks(execute=True):
        inquiry_resolve(actor=head, inquiry_id=inquiry.pk, class_key="new_lead", comment="Marketing is right")
    detail = inquiry_get(user=marketer, inquiry_id=inquiry.pk)
    assert (
        detail.cls.key == "new_lead" and detail.review_status == "resolved" and detail.classified_by == head
    )
    history = [
        (r.action, r.actor.username, r.from_class and r.from_class.key, r.to_class.key, r.comment)
        for r in detail.reviews.all()
    ]
    assert history == [
        ("classified", "ann", None, "spam", ""),
        ("disputed", "mara", "spam", "spam", "Asked for a price: a real lead"),
        ("resolved", "head", "spam", "new_lead", "Marketing is right"),
    ]
    assert Notification.objects.filter(user=marketer, kind="inquiry_resolved").count() == 1
    kinds = list(
        Activity.objects.filter(contact=inquiry.contact).values_list("kind", flat=True).order_by("id")
    )
    assert kinds[-3:] == ["inquiry_classified", "inquiry_reviewed", "inquiry_resolved"]
    actions = set(AuditEntry.objects.filter(object_type="inquiry").values_list("action", flat=True))
    assert actions == {"inquiry.classified", "inquiry.disputed", "inquiry.resolved"}


def test_confirm_is_a_review_and_a_new_class_needs_a_new_review(capture, teams):
    marketer = user("marketing", username="mara")
    inquiry = capture(email="s@example.com")
    with pytest.raises(Conflict):
        inquiry_review(actor=marketer, inquiry_id=inquiry.pk, action="confirm")
    inquiry_classify(actor=teams["ann"], inquiry_id=inquiry.pk, class_key="service")
    inquiry_review(actor=marketer, inquiry_id=inquiry.pk, action="confirm")
    inquiry.refresh_from_db()
    assert inquiry.review_status == "confirmed"
    inquiry_classify(actor=teams["ann"], inquiry_id=inquiry.pk, class_key="upsell")
    inquiry.refresh_from_db()
    assert inquiry.review_status == ""
    with pytest.raises(ValidationFailed):
        inquiry_review(actor=marketer, inquiry_id=inquiry.pk, action="approve")


def test_guests_read_but_change_nothing(capture, teams):
    guest = user("guest", username="g")
    inquiry = capture(email="t@example.com")
    assert inquiry_get(user=guest, inquiry_id=inquiry.pk).pk == inquiry.pk
    with pytest.raises(Forbidden):
        inquiry_classify(actor=guest, inquiry_id=inquiry.pk, class_key="spam")
    with pytest.raises(Forbidden):
        inquiry_class_create(actor=guest, data={"key": "x", "name": "X", "kind": "junk"})


def test_first_response_keeps_the_earliest(capture, teams):
    import datetime as dt

    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    with clock.frozen(t0):
        inquiry = capture(email="f@example.com")
    ann = teams["ann"]
    with clock.frozen(t0 + dt.timedelta(hours=1)):
        inquiry_first_response(actor=ann, inquiry_id=inquiry.pk)
        inquiry_first_response(actor=ann, inquiry_id=inquiry.pk, at=t0 + dt.timedelta(minutes=7))
        inquiry_first_response(actor=ann, inquiry_id=inquiry.pk, at=t0 + dt.timedelta(minutes=30))
        with pytest.raises(ValidationFailed):
            inquiry_first_response(actor=ann, inquiry_id=inquiry.pk, at=t0 - dt.timedelta(minutes=1))
    inquiry.refresh_from_db()
    assert inquiry.first_response_at == t0 + dt.timedelta(minutes=7)


def test_classification_enqueues_a_junk_check_after_commit(
    capture, teams, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    inquiry = capture(
        email="j@example.com",
        page_url="https://shop.example/?utm_campaign=promo&utm_source=vk&utm_medium=cpc",
    )
    no_campaign = capture(email="j2@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        inquiry_classify(actor=teams["ann"], inquiry_id=inquiry.pk, class_key="spam")
        inquiry_classify(actor=teams["bob"], inquiry_id=no_campaign.pk, class_key="spam")
    (task,) = DBTaskResult.objects.all()
    assert task.task_path.endswith("run_junk_check")
    assert task.args_kwargs["kwargs"] == {"campaign_ids": [inquiry.touch.campaign_id]}


def test_moving_a_class_swaps_it_with_its_neighbour_and_audits_it() -> None:
    from leadbridge.capture.models import InquiryClass
    from leadbridge.capture.services import inquiry_class_move

    admin = user("admin")
    keys = list(InquiryClass.objects.order_by("position", "id").values_list("key", flat=True))
    moved = inquiry_class_move(actor=admin, class_id=InquiryClass.objects.get(key=keys[2]).pk, direction="up")
    after = list(InquiryClass.objects.order_by("position", "id").values_list("key", flat=True))
    assert after == [keys[0], keys[2], keys[1], *keys[3:]]
    assert list(InquiryClass.objects.order_by("position").values_list("position", flat=True)) == list(
        range(len(keys))
    )
    assert moved.position == 1
    entry = AuditEntry.objects.get(action="inquiry_class.move")
    assert entry.object_id == str(moved.pk) or int(entry.object_id) == moved.pk
    # At either end nothing moves and nothing is audited.
    inquiry_class_move(actor=admin, class_id=InquiryClass.objects.get(key=after[0]).pk, direction="up")
    assert list(InquiryClass.objects.order_by("position", "id").values_list("key", flat=True)) == after
    assert AuditEntry.objects.filter(action="inquiry_class.move").count() == 1
    with pytest.raises(ValidationFailed):
        inquiry_class_move(actor=admin, class_id=moved.pk, direction="sideways")
    with pytest.raises(NotFound):
        inquiry_class_move(actor=admin, class_id=999_999, direction="up")
    with pytest.raises(Forbidden):
        inquiry_class_move(actor=user("sales", username="s1"), class_id=moved.pk, direction="down")
