"""REST API for model versions, training runs and generation jobs (staff only: they spend GPU).
Rounds and head-to-head results: training/apis_rounds.py.

Mounted at /api/training/ (training/api_urls.py). Creating a run or job answers 201 with its
record: a configuration that cannot work comes back with status "failed" and the reason in
"error", as on its admin page; malformed input is a 400 naming the field.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from annotate.apis.common import Api, ErrorSerializer, column_int_field, paginated
from annotate.models import DatasetSnapshot, Project, Prompt
from annotate.permissions import IsStaff, visible_or_404
from judges.models import Judge
from training.models import (
    GenerationJob,
    JobStatus,
    Method,
    ModelVersion,
    RunKind,
    RunMetric,
    TrainingRun,
)
from training.services.generation import generation_cancel, generation_create
from training.services.runs import run_cancel, run_create, run_resume


class StaffApi(Api):
    permission_classes = [IsAuthenticated, IsStaff]


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "kind",
            "base_model",
            "adapter_path",
            "endpoint",
            "parent",
            "produced_by",
            "metrics",
            "created_at",
        ]
        ref_name = "ModelVersion"


JOB_FIELDS = [
    "id",
    "status",
    "error",
    "warnings",
    "cancel_requested",
    "step",
    "total_steps",
    "progress_percent",
    "eta_seconds",
    "attempts",
    "log_tail",
    "outputs",
    "out_dir",
    "created_at",
    "started_at",
    "finished_at",
]


class RunSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)
    produced_version = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = [
            *JOB_FIELDS,
            "kind",
            "method",
            "base",
            "snapshot",
            "reward_model",
            "reward_judge",
            "parent_run",
            "project",
            "round",
            "seed",
            "hyperparameters",
            "final_metrics",
            "last_checkpoint",
            "produced_version",
        ]
        ref_name = "TrainingRun"


class GenerationSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = GenerationJob
        fields = [
            *JOB_FIELDS,
            "project",
            "model_version",
            "pair_with",
            "round",
            "backend",
            "k",
            "prompt_ids",
            "params",
            "responses_created",
            "comparisons_created",
        ]
        ref_name = "GenerationJob"


class MetricPointSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunMetric
        fields = ["kind", "step", "values", "logged_at"]
        ref_name = "RunMetricPoint"


class ModelVersionsApi(StaffApi):
    @extend_schema(
        operation_id="training_models_list",
        parameters=[OpenApiParameter("kind", str, description="policy or reward_model")],
        responses=paginated(ModelVersionSerializer, "ModelVersion"),
    )
    def get(self, request):
        versions = ModelVersion.objects.select_related("parent").order_by("-created_at")
        if request.query_params.get("kind"):
            versions = versions.filter(kind=request.query_params["kind"])
        return self.paginate(versions, ModelVersionSerializer)


class ModelVersionApi(StaffApi):
    @extend_schema(responses=ModelVersionSerializer)
    def get(self, request, version_id: int):
        version = visible_or_404(ModelVersion.objects.all(), pk=version_id, what="model version")
        return Response(ModelVersionSerializer(version).data)


class RunsApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=RunKind.choices)
        base = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
        snapshot = serializers.PrimaryKeyRelatedField(
            queryset=DatasetSnapshot.objects.all(), required=False, allow_null=True
        )
        project = serializers.PrimaryKeyRelatedField(
            queryset=Project.objects.all(),
            required=False,
            allow_null=True,
            help_text="Default: the snapshot's. PPO, GRPO, RLOO and rejection sampling without a "
            "snapshot sample this project's prompts.",
        )
        method = serializers.ChoiceField(choices=Method.choices, default=Method.FULL)
        hyperparameters = serializers.DictField(
            required=False, default=dict, help_text="Overrides of the engine's defaults."
        )
        reward_model = serializers.PrimaryKeyRelatedField(
            queryset=ModelVersion.objects.all(), required=False, allow_null=True
        )
        reward_judge = serializers.PrimaryKeyRelatedField(
            queryset=Judge.objects.all(),
            required=False,
            allow_null=True,
            help_text="PPO/GRPO/RLOO: an AI judge (OpenAI-compatible endpoint) scores instead.",
        )
        seed = column_int_field(TrainingRun, "seed", default=0)
        accelerate_config = serializers.CharField(required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "TrainingRunRequest"

    @extend_schema(
        operation_id="training_runs_list",
        parameters=[
            OpenApiParameter("status", str, enum=JobStatus.values),
            OpenApiParameter("kind", str, enum=RunKind.values),
        ],
        responses=paginated(RunSerializer, "TrainingRun"),
    )
    def get(self, request):
        runs = TrainingRun.objects.select_related("produced_version").order_by("-created_at")
        for name in ("status", "kind"):
            if request.query_params.get(name):
                runs = runs.filter(**{name: request.query_params[name]})
        return self.paginate(runs, RunSerializer)

    @extend_schema(request=InputSerializer, responses={201: RunSerializer, 400: ErrorSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = run_create(user=request.user, **data.validated_data)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


def _run(run_id: int) -> TrainingRun:
    return visible_or_404(TrainingRun.objects.all(), pk=run_id, what="training run")


class RunApi(StaffApi):
    @extend_schema(responses=RunSerializer)
    def get(self, request, run_id: int):
        return Response(RunSerializer(_run(run_id)).data)


class RunCancelApi(StaffApi):
    @extend_schema(request=None, responses={200: RunSerializer, 400: ErrorSerializer})
    def post(self, request, run_id: int):
        return Response(RunSerializer(run_cancel(run=_run(run_id))).data)


class RunResumeApi(StaffApi):
    @extend_schema(request=None, responses={200: RunSerializer, 400: ErrorSerializer})
    def post(self, request, run_id: int):
        return Response(RunSerializer(run_resume(run=_run(run_id))).data)


class RunMetricsApi(StaffApi):
    """Every logged and evaluated point of a run, in order: its curves as data."""

    @extend_schema(responses=MetricPointSerializer(many=True))
    def get(self, request, run_id: int):
        points = RunMetric.objects.filter(run=_run(run_id)).order_by("step", "id")
        return Response(MetricPointSerializer(points, many=True).data)


class GenerationsApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
        model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
        k = column_int_field(GenerationJob, "k", default=2, help_text="Candidates per prompt.")
        prompts = serializers.PrimaryKeyRelatedField(
            queryset=Prompt.objects.all(),
            many=True,
            required=False,
            help_text="Default: every prompt of the project.",
        )
        params = serializers.DictField(
            required=False,
            default=dict,
            help_text="temperature, top_p, max_new_tokens, seed (+ concurrency, max_retries, "
            "timeout for endpoints).",
        )
        pair_with = serializers.PrimaryKeyRelatedField(
            queryset=ModelVersion.objects.all(),
            required=False,
            allow_null=True,
            help_text="Also compare each new response with this version's answers (head to head).",
        )

        class Meta:
            ref_name = "GenerationJobRequest"

    @extend_schema(
        operation_id="training_generations_list",
        responses=paginated(GenerationSerializer, "GenerationJob"),
    )
    def get(self, request):
        jobs = GenerationJob.objects.order_by("-created_at")
        return self.paginate(jobs, GenerationSerializer)

    @extend_schema(
        request=InputSerializer, responses={201: GenerationSerializer, 400: ErrorSerializer}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        job = generation_create(
            project=values["project"],
            model_version=values["model_version"],
            k=values["k"],
            prompts=values.get("prompts") or None,
            params=values["params"],
            user=request.user,
            pair_with=values.get("pair_with"),
        )
        return Response(GenerationSerializer(job).data, status=status.HTTP_201_CREATED)


def _generation(job_id: int) -> GenerationJob:
    return visible_or_404(GenerationJob.objects.all(), pk=job_id, what="generation job")


class GenerationApi(StaffApi):
    @extend_schema(responses=GenerationSerializer)
    def get(self, request, job_id: int):
        return Response(GenerationSerializer(_generation(job_id)).data)


class GenerationCancelApi(StaffApi):
    @extend_schema(request=None, responses={200: GenerationSerializer, 400: ErrorSerializer})
    def post(self, request, job_id: int):
        return Response(GenerationSerializer(generation_cancel(job=_generation(job_id))).data)
