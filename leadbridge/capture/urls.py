"""Public capture endpoints (no login): forms, tracking hits, the JS tracker, inbound webhooks."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
