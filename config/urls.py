from django.contrib import admin
from django.urls import include, path

# Under /api/, errors Django answers itself (no route, a malformed request) are JSON too.
handler400 = "config.api_errors.bad_request"
handler404 = "config.api_errors.not_found"
handler500 = "config.api_errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/judges/", include("judges.api_urls")),
    path("api/training/", include("training.api_urls")),
    path("api/", include("annotate.api_urls")),
    path("", include("annotate.urls")),
]
