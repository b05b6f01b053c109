"""/api/ routes. Every route here needs a row in tests/test_api_permissions.py."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from annotate.apis.auth import TokenObtainApi
from annotate.apis.content import (
    ComparisonApi,
    ComparisonsApi,
    ProjectResponsesApi,
    PromptApi,
    PromptResponsesApi,
    PromptsApi,
)
from annotate.apis.data import ExportApi, ImportApi, SnapshotApi, SnapshotDownloadApi, SnapshotsApi
from annotate.apis.projects import MemberApi, MembersApi, ProjectApi, ProjectsApi
from annotate.apis.votes import VoteApi, VotesApi

app_name = "api"

urlpatterns = [
    path("auth/token/", TokenObtainApi.as_view(), name="token"),
    path("projects/", ProjectsApi.as_view(), name="projects"),
    path("projects/<int:project_id>/", ProjectApi.as_view(), name="project"),
    path("projects/<int:project_id>/members/", MembersApi.as_view(), name="members"),
    path("projects/<int:project_id>/members/<int:user_id>/", MemberApi.as_view(), name="member"),
    path("projects/<int:project_id>/prompts/", PromptsApi.as_view(), name="prompts"),
    path(
        "projects/<int:project_id>/responses/",
        ProjectResponsesApi.as_view(),
        name="project-responses",
    ),
    path("projects/<int:project_id>/comparisons/", ComparisonsApi.as_view(), name="comparisons"),
    path("projects/<int:project_id>/import/", ImportApi.as_view(), name="import"),
    path("projects/<int:project_id>/export/", ExportApi.as_view(), name="export"),
    path("prompts/<int:prompt_id>/", PromptApi.as_view(), name="prompt"),
    path(
        "prompts/<int:prompt_id>/responses/", PromptResponsesApi.as_view(), name="prompt-responses"
    ),
    path("comparisons/<int:comparison_id>/", ComparisonApi.as_view(), name="comparison"),
    path("votes/", VotesApi.as_view(), name="votes"),
    path("votes/<int:vote_id>/", VoteApi.as_view(), name="vote"),
    path("snapshots/", SnapshotsApi.as_view(), name="snapshots"),
    path("snapshots/<int:snapshot_id>/", SnapshotApi.as_view(), name="snapshot"),
    path(
        "snapshots/<int:snapshot_id>/download/",
        SnapshotDownloadApi.as_view(),
        name="snapshot-download",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
