"""/api/training/ routes: model versions, training runs, generation jobs (staff only)."""

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

app_name = "training-api"

urlpatterns = [
    path("models/", ModelVersionsApi.as_view(), name="models"),
    path("models/<int:version_id>/", ModelVersionApi.as_view(), name="model"),
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
