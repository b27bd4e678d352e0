import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

# Imported once the app registry is ready (get_wsgi_application() ran django.setup()).
from leadbridge.capture.http import LeanHandler  # noqa: E402
from leadbridge.capture.urls import TRACKING_PATHS  # noqa: E402

# Tracking hits (the pixel, tracker batches) skip the middleware and URL resolution they do not
# need; every other request goes through Django's full stack.
application = LeanHandler(django_application, TRACKING_PATHS)
