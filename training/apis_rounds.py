"""REST API for rounds and head-to-head results (staff only), under /api/training/."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotate.apis.common import ErrorSerializer, int_param, paginated
from annotate.models import Project
from annotate.permissions import visible_or_404
from training.apis import GenerationSerializer, StaffApi
from training.models import ModelKind, ModelVersion, Round
from training.selectors import head_to_head, round_best, round_versions
from training.services.rounds import round_start, round_start_next


class RoundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Round
        fields = ["id", "project", "number", "policy", "previous", "notes", "created_at"]
        ref_name = "Round"


class RoundVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="version.pk")
    name = serializers.CharField(source="version.name")
    run = serializers.IntegerField(source="run.pk")
    win_rate = serializers.FloatField(allow_null=True, help_text="vs its parent, by a reward model")
    kl = serializers.FloatField(allow_null=True)
    judged = serializers.FloatField(
        allow_null=True, help_text="vs the round's policy, head to head, by judges and humans"
    )
    warnings = serializers.ListField(child=serializers.CharField())


class RoundDetailSerializer(RoundSerializer):
    versions = serializers.SerializerMethodField()
    best = serializers.SerializerMethodField()

    class Meta(RoundSerializer.Meta):
        fields = [*RoundSerializer.Meta.fields, "versions", "best"]
        ref_name = "RoundDetail"

    def to_representation(self, instance: Round) -> dict:
        self._versions = round_versions(round=instance)  # both fields below read them
        return super().to_representation(instance)

    @extend_schema(responses=RoundVersionSerializer(many=True))
    def get_versions(self, obj: Round) -> list[dict]:
        return RoundVersionSerializer(self._versions, many=True).data

    def get_best(self, obj: Round) -> int:
        return round_best(round=obj, versions=self._versions).pk


class HeadToHeadSerializer(serializers.Serializer):
    rater = serializers.CharField(help_text='"humans", or a judge\'s name')
    kind = serializers.CharField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    votes = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True, help_text="ties count half")


def _policies():
    return ModelVersion.objects.filter(kind=ModelKind.POLICY)


class RoundsApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
        policy = serializers.PrimaryKeyRelatedField(queryset=_policies())
        notes = serializers.CharField(required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "RoundRequest"

    @extend_schema(
        operation_id="training_rounds_list",
        parameters=[OpenApiParameter("project", int)],
        responses={200: paginated(RoundSerializer, "Round"), 400: ErrorSerializer},
    )
    def get(self, request):
        rounds = Round.objects.order_by("project_id", "number")
        project_id = int_param(request, "project")
        if project_id is not None:
            rounds = rounds.filter(project_id=project_id)
        return self.paginate(rounds, RoundSerializer)

    @extend_schema(request=InputSerializer, responses={201: RoundSerializer, 400: ErrorSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = round_start(user=request.user, **data.validated_data)
        return Response(RoundSerializer(created).data, status=status.HTTP_201_CREATED)


class RoundApi(StaffApi):
    @extend_schema(responses=RoundDetailSerializer)
    def get(self, request, round_id: int):
        found = visible_or_404(Round.objects.all(), pk=round_id, what="round")
        return Response(RoundDetailSerializer(found).data)


class RoundNextApi(StaffApi):
    class InputSerializer(serializers.Serializer):
        policy = serializers.PrimaryKeyRelatedField(
            queryset=_policies(),
            required=False,
            allow_null=True,
            help_text="Default: the round's best version.",
        )
        generate = serializers.BooleanField(default=True)

        class Meta:
            ref_name = "NextRoundRequest"

    class OutputSerializer(serializers.Serializer):
        round = RoundSerializer()
        generation = GenerationSerializer(allow_null=True)

        class Meta:
            ref_name = "NextRound"

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 400: ErrorSerializer})
    def post(self, request, round_id: int):
        found = visible_or_404(Round.objects.all(), pk=round_id, what="round")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        new, job = round_start_next(
            round=found,
            policy=data.validated_data.get("policy"),
            generate=data.validated_data["generate"],
            user=request.user,
        )
        out = {"round": new, "generation": job}
        return Response(self.OutputSerializer(out).data, status=status.HTTP_201_CREATED)


class HeadToHeadApi(StaffApi):
    @extend_schema(
        parameters=[OpenApiParameter("opponent", int, description="Default: the parent.")],
        responses={200: HeadToHeadSerializer(many=True), 400: ErrorSerializer},
    )
    def get(self, request, version_id: int):
        version = visible_or_404(ModelVersion.objects.all(), pk=version_id, what="model version")
        opponent_id = int_param(request, "opponent") or version.parent_id
        if not opponent_id:
            return Response(
                {
                    "field": "opponent",
                    "detail": "this version has no parent: give ?opponent=<model version id>",
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        opponent = visible_or_404(
            ModelVersion.objects.all(), pk=opponent_id, what="opponent model version"
        )
        rows = head_to_head(version=version, opponent=opponent)
        return Response(HeadToHeadSerializer(rows, many=True).data)
