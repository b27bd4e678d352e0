from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from leadbridge.api.urls import api


def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "unhealthy"
        return JsonResponse({"status": "error", "detail": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("leadbridge.capture.urls")),
    path("", include("leadbridge.web.urls")),
]
