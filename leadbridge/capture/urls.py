"""Public capture endpoints (no login): forms, tracking hits, the JS tracker, inbound webhooks."""

from __future__ import annotations

from django.urls import URLPattern, path

from leadbridge.capture import public
from leadbridge.capture.http import View

app_name = "capture"

urlpatterns: list[URLPattern] = [
    path("capture/form", public.capture_form, name="form"),
    path("capture/inquiry/<str:provider>", public.inquiry_webhook, name="inquiry"),
    path("t/events", public.track_events, name="events"),
    path("t/p.gif", public.pixel, name="pixel"),
    path("t/lb.js", public.tracker, name="tracker"),
]

# The hits a site sends on every page view, by full path (config/urls.py includes these URLs at
# the root). config/wsgi.py serves them on the lean path (capture.http.LeanHandler: no session,
# auth, CSRF or locale middleware, no URL resolution); the patterns above serve the same views to
# the test client and to any other handler.
TRACKING_PATHS: dict[str, View] = {
    "/t/events": public.track_events,
    "/t/p.gif": public.pixel,
}
