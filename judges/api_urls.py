"""/api/judges/ routes (mounted by config/urls.py)."""

from __future__ import annotations

from django.urls import path

from judges.apis import (
    AgreementApi,
    JudgeApi,
    JudgesApi,
    JudgingApi,
    RunApi,
    RunCancelApi,
    RunResumeApi,
    RunsApi,
)
from judges.quality_apis import RaterQualityApi

app_name = "judges-api"

urlpatterns = [
    path("", JudgesApi.as_view(), name="judges"),
    path("<int:judge_id>/", JudgeApi.as_view(), name="judge"),
    path("runs/", RunsApi.as_view(), name="runs"),
    path("runs/<int:run_id>/", RunApi.as_view(), name="run"),
    path("runs/<int:run_id>/cancel/", RunCancelApi.as_view(), name="run-cancel"),
    path("runs/<int:run_id>/resume/", RunResumeApi.as_view(), name="run-resume"),
    path("projects/<int:project_id>/agreement/", AgreementApi.as_view(), name="agreement"),
    path("projects/<int:project_id>/judging/", JudgingApi.as_view(), name="judging"),
    path(
        "projects/<int:project_id>/rater-quality/",
        RaterQualityApi.as_view(),
        name="rater-quality",
    ),
]
