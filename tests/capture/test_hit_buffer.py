"""The pixel's write-behind buffer (leadbridge/capture/hitbuffer.py): hits reach the table from the
process's own writer thread, nothing is lost or doubled, failures keep the hits for a retry."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.test import Client

from leadbridge.capture import services
from leadbridge.capture.hitbuffer import HitBuffer
from leadbridge.capture.models import EventKind, Site, Touch, TrackingEvent, Visitor
from leadbridge.capture.services import site_create
from leadbridge.core import clock

PIXEL = "/t/p.gif"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


@pytest.fixture
def buffered(settings: Any) -> Any:
    """The buffer on, with a long interval: the tests decide when it writes."""
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "CAPTURE_PIXEL_FLUSH_MS": 60_000}
    services._pixel_buffer = None
    yield
    if services._pixel_buffer is not None:
        services._pixel_buffer.stop()
    services._pixel_buffer = None


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_pixel_hits_of_many_visitors_are_written_together(buffered: Any) -> None:
    site = site_create(actor=None, name="Shop", origins=["https://shop.example"])
    client = Client(HTTP_USER_AGENT=UA)
    Visitor.objects.create(site=site, uid="returning-0001", first_seen=clock.now() - dt.timedelta(days=3))
    for i in range(30):
        uid = ["returning-0001", "new-visitor-0002", "new-visitor-0003"][i % 3]
        response = client.get(
            PIXEL, {"k": site.key, "v": uid, "u": f"https://shop.example/p/{i}", "t": f"Page {i}"}
        )
        assert response.status_code == 200 and response.content.startswith(b"GIF")
    buffer = services.pixel_buffer()
    assert buffer is not None and buffer.pending() == 30
    assert TrackingEvent.objects.count() == 0  # not yet: the interval has not passed
    assert buffer.flush() == 30
    assert TrackingEvent.objects.count() == 30 and buffer.pending() == 0
    by_visitor = {v.uid: v for v in Visitor.objects.filter(site=site)}
    assert set(by_visitor) == {"returning-0001", "new-visitor-0002", "new-visitor-0003"}
    for uid, visitor in by_visitor.items():
        urls = list(
            TrackingEvent.objects.filter(visitor=visitor).order_by("id").values_list("url", flat=True)
        )
        offset = ["returning-0001", "new-visitor-0002", "new-visitor-0003"].index(uid)
        assert urls == [f"https://shop.example/p/{i}" for i in range(offset, 30, 3)]
        assert visitor.last_seen >= visitor.first_seen
    assert by_visitor["returning-0001"].first_seen < clock.now() - dt.timedelta(days=2)  # kept
    assert set(TrackingEvent.objects.values_list("kind", flat=True)) == {EventKind.PIXEL}
    assert buffer.flush() == 0  # nothing twice


@pytest.mark.django_db(transaction=True)
def test_the_writer_thread_writes_without_being_asked(settings: Any) -> None:
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "CAPTURE_PIXEL_FLUSH_MS": 50}
    services._pixel_buffer = None
    try:
        site = site_create(actor=None, name="Shop", origins=["https://shop.example"])
        client = Client(HTTP_USER_AGENT=UA)
        for i in range(12):
            client.get(PIXEL, {"k": site.key, "v": "thread-visitor-1", "u": f"https://shop.example/{i}"})
        assert _wait_for(lambda: TrackingEvent.objects.count() == 12)
        assert Visitor.objects.filter(uid="thread-visitor-1").count() == 1
    finally:
        if services._pixel_buffer is not None:
            services._pixel_buffer.stop()
        services._pixel_buffer = None


@pytest.mark.django_db(transaction=True)
def test_a_pixel_that_brings_a_source_is_written_in_its_request(buffered: Any) -> None:
    site = site_create(actor=None, name="Shop", origins=["https://shop.example"])
    client = Client(HTTP_USER_AGENT=UA)
    url = "https://shop.example/mail?utm_source=newsletter&utm_medium=email&utm_campaign=nov"
    client.get(PIXEL, {"k": site.key, "v": "mail-reader-01", "u": url})
    assert TrackingEvent.objects.filter(url=url).count() == 1  # at once: it made a touch
    (touch,) = Touch.objects.all()
    assert touch.kind == "visit" and touch.source == "newsletter"
    buffer = services.pixel_buffer()
    assert buffer is not None and buffer.pending() == 0


def test_a_failed_write_keeps_the_hits_for_the_next_round() -> None:
    written: list[list[Any]] = []
    fail = [True]

    def writer(items: list[Any]) -> None:
        if fail[0]:
            raise RuntimeError("database is down")
        written.append(list(items))

    buffer = HitBuffer(writer, interval=3600, keep=5)
    buffer.add([(1, "a", (1,)), (1, "b", (2,)), (1, "c", (3,))])
    with pytest.raises(RuntimeError):
        buffer.flush()
    assert buffer.pending() == 3
    buffer.add([(1, "d", (4,)), (1, "e", (5,)), (1, "f", (6,))])
    with pytest.raises(RuntimeError):
        buffer.flush()
    # At most `keep` items wait: the oldest one went, and was counted.
    assert buffer.pending() == 5 and buffer.dropped == 1
    fail[0] = False
    assert buffer.flush() == 5
    assert [item[1] for item in written[0]] == ["b", "c", "d", "e", "f"]
    buffer.stop()  # the writer thread the first add started ends with the test


def test_adds_from_many_threads_are_all_written_once() -> None:
    written: list[Any] = []
    lock = threading.Lock()

    def writer(items: list[Any]) -> None:
        with lock:
            written.extend(items)

    buffer = HitBuffer(writer, interval=0.01, max_items=50)

    def add(n: int) -> None:
        for i in range(500):
            buffer.add([(1, f"t{n}", (i,))])

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _wait_for(lambda: buffer.pending() == 0)
    buffer.stop()
    assert sorted((u, r[0]) for _s, u, r in written) == sorted(
        (f"t{n}", i) for n in range(8) for i in range(500)
    )


@pytest.mark.django_db(transaction=True)
def test_plain_hits_store_on_a_batch_of_many_sites_and_visitors() -> None:
    one = site_create(actor=None, name="One", origins=["https://one.example"])
    two = Site.objects.create(name="Two", origins=["https://two.example"])
    now = clock.now()
    items = []
    for i in range(1200):  # more visitors than one SQLite IN (...) chunk
        site = one if i % 2 else two
        row = (
            int(EventKind.PIXEL),
            now - dt.timedelta(seconds=i),
            f"https://x.example/{i}",
            "",
            "",
            "",
            None,
        )
        items.append((site.pk, f"visitor-{i % 700:05d}", row))
    services.plain_hits_store(items)
    assert TrackingEvent.objects.count() == 1200
    assert Visitor.objects.count() == 700  # i and i + 700 have the same parity: one site per uid
    v = Visitor.objects.get(site=two, uid="visitor-00000")
    times = list(TrackingEvent.objects.filter(visitor=v).values_list("occurred_at", flat=True))
    assert v.first_seen == min(times) and v.last_seen == max(times)
    # Ids follow the order the hits came in, not grouped by visitor: readers by id (scoring's
    # caps, the behaviour roll-up) see them as they arrived.
    urls = list(TrackingEvent.objects.order_by("id").values_list("url", flat=True))
    assert urls == [f"https://x.example/{i}" for i in range(1200)]
