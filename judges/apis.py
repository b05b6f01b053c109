"""Judges over the API: configuration (the API key is write-only), runs, RLAIF mode, agreement.

Access: anyone signed in may read judge configurations (never their keys); only staff create,
change or delete judges. Runs and RLAIF modes belong to projects: project admins (and staff)
start, cancel and resume runs and set the mode; reviewers and up read runs and agreement.
"""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotate import selectors as annotate_selectors
from annotate.apis.common import Api, ErrorSerializer, int_param, paginated
from annotate.models import Role
from annotate.permissions import (
    project_with_role,
    require_role,
    require_staff,
    visible_or_404,
)
from judges.models import (
    InconsistencyPolicy,
    Judge,
    JudgeKind,
    JudgeMode,
    JudgeRun,
    JudgingMode,
)
from judges.selectors import agreement_report, project_judging_for, route_counts
from judges.services.gate import judge_admissions
from judges.services.judges import judge_create, judge_delete, judge_update
from judges.services.routing import project_judging_set
from judges.services.runs import judge_run_cancel, judge_run_create, judge_run_resume
from training.models import ModelVersion


class JudgeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="rater.name")
    rater = serializers.IntegerField(source="rater_id")
    kind = serializers.ChoiceField(choices=JudgeKind.choices)
    version = serializers.CharField()
    base_url = serializers.CharField()
    model = serializers.CharField()
    has_api_key = serializers.BooleanField(help_text="Whether a key is stored; never the key.")
    api_key_env = serializers.CharField()
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    mode = serializers.ChoiceField(choices=JudgeMode.choices)
    template = serializers.CharField()
    rubric = serializers.CharField()
    constitution = serializers.ListField(child=serializers.CharField())
    chain_of_thought = serializers.BooleanField()
    sampling_params = serializers.DictField()
    use_logprobs = serializers.BooleanField()
    inconsistency = serializers.ChoiceField(choices=InconsistencyPolicy.choices)
    max_parse_retries = serializers.IntegerField()
    max_retries = serializers.IntegerField()
    timeout_seconds = serializers.FloatField()
    concurrency = serializers.IntegerField()
    price_prompt_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=4)
    price_completion_per_mtok = serializers.DecimalField(max_digits=12, decimal_places=4)
    config_hash = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Judge"


class JudgeInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=JudgeKind.choices)
    version = serializers.CharField(max_length=100, required=False)
    base_url = serializers.URLField(required=False, allow_blank=True)
    model = serializers.CharField(max_length=500, required=False, allow_blank=True)
    api_key = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=True,
        help_text='Write-only. Omit to keep the stored key; "" removes it.',
    )
    api_key_env = serializers.CharField(max_length=100, required=False, allow_blank=True)
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False, allow_null=True
    )
    mode = serializers.ChoiceField(choices=JudgeMode.choices, required=False)
    template = serializers.CharField(required=False, allow_blank=True)
    rubric = serializers.CharField(required=False, allow_blank=True)
    constitution = serializers.ListField(child=serializers.CharField(), required=False)
    chain_of_thought = serializers.BooleanField(required=False)
    sampling_params = serializers.DictField(required=False)
    use_logprobs = serializers.BooleanField(required=False)
    inconsistency = serializers.ChoiceField(choices=InconsistencyPolicy.choices, required=False)
    max_parse_retries = serializers.IntegerField(min_value=0, max_value=10, required=False)
    max_retries = serializers.IntegerField(min_value=0, max_value=20, required=False)
    timeout_seconds = serializers.FloatField(min_value=0.1, required=False)
    concurrency = serializers.IntegerField(min_value=1, max_value=1024, required=False)
    price_prompt_per_mtok = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, required=False
    )
    price_completion_per_mtok = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, required=False
    )

    class Meta:
        ref_name = "JudgeInput"


class JudgesApi(Api):
    """GET: judge configurations (signed-in users). POST: create one (staff)."""

    @extend_schema(operation_id="judges_list", responses=paginated(JudgeOutputSerializer, "Judge"))
    def get(self, request):
        judges = Judge.objects.select_related("rater").order_by("rater__name")
        return self.paginate(judges, JudgeOutputSerializer)

    @extend_schema(
        request=JudgeInputSerializer, responses={201: JudgeOutputSerializer, 400: ErrorSerializer}
    )
    def post(self, request):
        require_staff(user=request.user)
        data = JudgeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        judge = judge_create(**data.validated_data)
        return Response(JudgeOutputSerializer(judge).data, status=status.HTTP_201_CREATED)


class JudgeApi(Api):
    """GET one judge; PATCH (staff) changes it; DELETE (staff) removes one that never voted."""

    def _judge(self, judge_id: int) -> Judge:
        return visible_or_404(Judge.objects.select_related("rater"), pk=judge_id, what="judge")

    @extend_schema(responses=JudgeOutputSerializer)
    def get(self, request, judge_id: int):
        return Response(JudgeOutputSerializer(self._judge(judge_id)).data)

    @extend_schema(
        request=JudgeInputSerializer, responses={200: JudgeOutputSerializer, 400: ErrorSerializer}
    )
    def patch(self, request, judge_id: int):
        require_staff(user=request.user)
        judge = self._judge(judge_id)
        data = JudgeInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        judge = judge_update(judge=judge, **data.validated_data)
        return Response(JudgeOutputSerializer(judge).data)

    @extend_schema(responses={204: None, 400: ErrorSerializer})
    def delete(self, request, judge_id: int):
        require_staff(user=request.user)
        judge_delete(judge=self._judge(judge_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    judge = serializers.IntegerField(source="judge_id")
    project = serializers.IntegerField(source="project_id")
    comparison_ids = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    rejudge = serializers.BooleanField()
    status = serializers.CharField()
    cancel_requested = serializers.BooleanField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    percent = serializers.IntegerField()
    skipped = serializers.IntegerField()
    voted = serializers.IntegerField()
    consistent = serializers.IntegerField()
    inconsistent = serializers.IntegerField()
    unparseable = serializers.IntegerField()
    failed = serializers.IntegerField()
    calls = serializers.IntegerField()
    cached_calls = serializers.IntegerField()
    http_requests = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "JudgeRun"


def _runs_for(user):
    runs = JudgeRun.objects.select_related("judge__rater", "project")
    if annotate_selectors.user_is_staff(user=user):
        return runs
    projects = annotate_selectors.project_list_for(user=user).values("pk")
    return runs.filter(project__in=projects)


class RunsApi(Api):
    """GET: runs in projects you can see (?project=). POST: start one (project admins)."""

    class InputSerializer(serializers.Serializer):
        judge = serializers.IntegerField()
        project = serializers.IntegerField()
        comparison_ids = serializers.ListField(
            child=serializers.IntegerField(), required=False, allow_empty=True
        )
        rejudge = serializers.BooleanField(default=False)

        class Meta:
            ref_name = "JudgeRunInput"

    @extend_schema(
        parameters=[OpenApiParameter("project", int, description="Only this project's runs.")],
        operation_id="judge_runs_list",
        responses=paginated(RunOutputSerializer, "JudgeRun"),
    )
    def get(self, request):
        runs = _runs_for(request.user)
        project_id = int_param(request, "project")
        if project_id is not None:
            runs = runs.filter(project_id=project_id)
        return self.paginate(runs, RunOutputSerializer)

    @extend_schema(
        request=InputSerializer, responses={201: RunOutputSerializer, 400: ErrorSerializer}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        project = project_with_role(
            user=request.user, project_id=values["project"], minimum=Role.ADMIN
        )
        judge = visible_or_404(Judge.objects.all(), pk=values["judge"], what="judge")
        run = judge_run_create(
            judge=judge,
            project=project,
            comparison_ids=values.get("comparison_ids") or None,
            rejudge=values["rejudge"],
            user=request.user,
        )
        return Response(RunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class RunApi(Api):
    @extend_schema(responses=RunOutputSerializer)
    def get(self, request, run_id: int):
        run = visible_or_404(_runs_for(request.user), pk=run_id, what="judge run")
        return Response(RunOutputSerializer(run).data)


def _run_for_admin(request, run_id: int) -> JudgeRun:
    run = visible_or_404(_runs_for(request.user), pk=run_id, what="judge run")
    require_role(user=request.user, project=run.project, minimum=Role.ADMIN)
    return run


class RunCancelApi(Api):
    """POST: stop a run (at once if queued, after its current batch if running)."""

    @extend_schema(request=None, responses=RunOutputSerializer)
    def post(self, request, run_id: int):
        run = judge_run_cancel(run=_run_for_admin(request, run_id))
        return Response(RunOutputSerializer(run).data)


class RunResumeApi(Api):
    """POST: queue a cancelled or failed run again; it continues where it stopped."""

    @extend_schema(request=None, responses={200: RunOutputSerializer, 400: ErrorSerializer})
    def post(self, request, run_id: int):
        run = judge_run_resume(run=_run_for_admin(request, run_id))
        return Response(RunOutputSerializer(run).data)


class AgreementApi(Api):
    """GET: the judges' agreement with the project's human votes, beside the human ceiling."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.REVIEWER)
        return Response(asdict(agreement_report(project=project)))


class JudgingApi(Api):
    """GET (reviewers and up) / PUT (project admins): the project's RLAIF mode.

    PUT routes the project's comparisons at once: settled ones leave the human queues.
    """

    class InputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(choices=JudgingMode.choices)
        judge = serializers.IntegerField(required=False, allow_null=True)
        confidence_threshold = serializers.FloatField(min_value=0, max_value=1, required=False)
        gold_size = serializers.IntegerField(min_value=1, required=False)
        agreement_threshold = serializers.FloatField(min_value=0, max_value=1, required=False)
        audit_rate = serializers.FloatField(min_value=0, max_value=1, required=False)
        judge_min_agreement = serializers.FloatField(min_value=0, max_value=1, required=False)
        judge_min_comparisons = serializers.IntegerField(min_value=0, required=False)

        class Meta:
            ref_name = "ProjectJudgingInput"

    class OutputSerializer(serializers.Serializer):
        project = serializers.IntegerField()
        mode = serializers.ChoiceField(choices=JudgingMode.choices)
        judge = serializers.IntegerField(allow_null=True)
        confidence_threshold = serializers.FloatField()
        gold_size = serializers.IntegerField()
        agreement_threshold = serializers.FloatField()
        audit_rate = serializers.FloatField()
        judge_min_agreement = serializers.FloatField()
        judge_min_comparisons = serializers.IntegerField()
        admission = serializers.ListField(
            child=serializers.DictField(),
            help_text="The admission gate: each judge that voted, admitted or not, with its "
            "accuracy, comparisons, position consistency and length bias.",
        )
        calibration = serializers.DictField()
        calibrated_at = serializers.DateTimeField(allow_null=True)
        routes = serializers.DictField(help_text="{decision: {reason: count}}")

        class Meta:
            ref_name = "ProjectJudging"

    def _out(self, project) -> dict:
        judging = project_judging_for(project=project)
        base = {
            "project": project.pk,
            "mode": JudgingMode.HUMANS,
            "judge": None,
            "confidence_threshold": 0.75,
            "gold_size": 20,
            "agreement_threshold": 0.8,
            "audit_rate": 0.1,
            "judge_min_agreement": 0.7,
            "judge_min_comparisons": 20,
            "calibration": {},
            "calibrated_at": None,
        }
        if judging is not None:
            base.update(
                mode=judging.mode,
                judge=judging.judge_id,
                confidence_threshold=judging.confidence_threshold,
                gold_size=judging.gold_size,
                agreement_threshold=judging.agreement_threshold,
                audit_rate=judging.audit_rate,
                judge_min_agreement=judging.judge_min_agreement,
                judge_min_comparisons=judging.judge_min_comparisons,
                calibration=judging.calibration,
                calibrated_at=judging.calibrated_at,
            )
        base["routes"] = route_counts(project=project)
        base["admission"] = [asdict(a) for a in judge_admissions(project=project)[1]]
        return self.OutputSerializer(base).data

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.REVIEWER)
        return Response(self._out(project))

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 400: ErrorSerializer})
    def put(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        judge_id = values.pop("judge", None)
        judge = visible_or_404(Judge.objects.all(), pk=judge_id, what="judge") if judge_id else None
        project_judging_set(project=project, judge=judge, **values)
        return Response(self._out(project))
