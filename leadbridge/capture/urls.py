"""Public capture endpoints (no login): forms, tracking hits, the JS tracker, inbound webhooks."""

from __future__ import annotations

from django.urls import URLPattern, path

from leadbridge.capture import public

app_name = "capture"

urlpatterns: list[URLPattern] = [
    path("capture/form", public.capture_form, name="form"),
    path("capture/inquiry/<str:provider>", public.inquiry_webhook, name="inquiry"),
    path("t/events", public.track_events, name="events"),
    path("t/p.gif", public.pixel, name="pixel"),
    path("t/lb.js", public.tracker, name="tracker"),
]
