"""accounts.notify: stored for each active user, mailed after commit, nothing on rollback."""

from __future__ import annotations

import pytest
from django.db import transaction

from leadbridge.accounts.models import Notification
from leadbridge.accounts.selectors import notification_list
from leadbridge.accounts.services import notification_mark_read, notify
from tests.factories import user


def test_notify_stores_and_mails_after_commit(mailoutbox, django_capture_on_commit_callbacks):
    a = user("marketing", username="a", email="a@example.test")
    b = user("marketing", username="b", email="b@example.test")
    off = user("marketing", username="off", email="off@example.test", is_active=False)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rows = notify(users=[a, b, off], kind="test", title="Hello", body="Body", url="/x/")
        assert mailoutbox == []
    assert {n.user for n in rows} == {a, b}
    for callback in callbacks:
        callback()
    # One message per person: nobody sees the others' addresses.
    assert sorted(m.to for m in mailoutbox) == [["a@example.test"], ["b@example.test"]]
    assert mailoutbox[0].subject == "Hello" and "Body" in mailoutbox[0].body and "/x/" in mailoutbox[0].body
    assert [n.title for n in notification_list(user=a, unread_only=True)] == ["Hello"]
    assert notification_mark_read(user=a) == 1
    assert not notification_list(user=a, unread_only=True).exists()


def test_a_rolled_back_change_notifies_nobody(mailoutbox, django_capture_on_commit_callbacks):
    a = user("marketing", username="a", email="a@example.test")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        notify(users=[a], kind="test", title="Never")
        raise RuntimeError("rollback")
    assert mailoutbox == [] and not Notification.objects.exists()


def test_email_false_stores_only(mailoutbox, django_capture_on_commit_callbacks):
    a = user("marketing", username="a", email="a@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        notify(users=[a], kind="test", title="Quiet", email=False)
    assert mailoutbox == [] and Notification.objects.count() == 1


def test_each_recipient_reads_the_notification_in_their_own_language(
    mailoutbox, django_capture_on_commit_callbacks
):
    from django.utils import translation
    from django.utils.translation import gettext as _

    olga = user("sales_head", username="olga", email="olga@example.test", language="ru")
    sam = user("sales_head", username="sam", email="sam@example.test", language="")
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        # Raised by someone working in English: the texts are built per recipient language.
        notify(
            users=[olga, sam],
            kind="inquiry_disputed",
            title=lambda: _("Inquiry #%(id)s: class “%(cls)s” disputed") % {"id": 7, "cls": "Spam"},
            url="/inquiries/7/",
        )
    titles = {n.user.username: n.title for n in Notification.objects.select_related("user")}
    assert titles == {
        "olga": "Обращение №7: класс «Spam» оспорен",
        "sam": "Inquiry #7: class “Spam” disputed",
    }
    subjects = {m.to[0]: m.subject for m in mailoutbox}
    assert subjects == {"olga@example.test": titles["olga"], "sam@example.test": titles["sam"]}
