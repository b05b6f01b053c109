"""The project's URLs plus /api/judges/, for as long as config/urls.py does not mount it."""

from __future__ import annotations

from django.urls import URLResolver, include, path

from config.urls import urlpatterns as project_urlpatterns

mounted = any(
    isinstance(p, URLResolver) and p.namespace == "judges-api" for p in project_urlpatterns
)
urlpatterns = [
    *([] if mounted else [path("api/judges/", include("judges.api_urls"))]),
    *project_urlpatterns,
]
