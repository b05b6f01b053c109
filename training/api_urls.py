"""/api/training/ routes: model versions, training runs, generation jobs, rounds (staff only)."""

from __future__ import annotations

from django.urls import path

from training.apis import (
    GenerationApi,
    GenerationCancelApi,
    GenerationsApi,
    ModelVersionApi,
    ModelVersionsApi,
    RunApi,
    RunCancelApi,
    RunMetricsApi,
    RunResumeApi,
    RunsApi,
)
from training.apis_rounds import HeadToHeadApi, RoundApi, RoundNextApi, RoundsApi

app_name = "training-api"

urlpatterns = [
    path("models/", ModelVersionsApi.as_view(), name="models"),
    path("models/<int:version_id>/", ModelVersionApi.as_view(), name="model"),
    path("models/<int:version_id>/head-to-head/", HeadToHeadApi.as_view(), name="head-to-head"),
    path("rounds/", RoundsApi.as_view(), name="rounds"),
    path("rounds/<int:round_id>/", RoundApi.as_view(), name="round"),
    path("rounds/<int:round_id>/next/", RoundNextApi.as_view(), name="round-next"),
    path("runs/", RunsApi.as_view(), name="runs"),
    path("runs/<int:run_id>/", RunApi.as_view(), name="run"),
    path("runs/<int:run_id>/cancel/", RunCancelApi.as_view(), name="run-cancel"),
    path("runs/<int:run_id>/resume/", RunResumeApi.as_view(), name="run-resume"),
    path("runs/<int:run_id>/metrics/", RunMetricsApi.as_view(), name="run-metrics"),
    path("generations/", GenerationsApi.as_view(), name="generations"),
    path("generations/<int:job_id>/", GenerationApi.as_view(), name="generation"),
    path(
        "generations/<int:job_id>/cancel/", GenerationCancelApi.as_view(), name="generation-cancel"
    ),
]
