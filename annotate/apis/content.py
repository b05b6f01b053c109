"""Prompts, candidate responses and comparisons of a project.

Annotators judge blind: what they get of a comparison is the conversation and the response
texts in canonical order, never where a response came from (model names) nor how many votes it
already has. Reviewers and project admins get the provenance too.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from annotate import selectors
from annotate.apis.common import Api, ErrorSerializer, id_field, int_param, paginated
from annotate.models import MessageRole, Prompt, Role
from annotate.permissions import project_with_role, visible_or_404
from annotate.services.comparisons import comparison_create
from annotate.services.projects import prompt_create, response_create
from training.models import ModelVersion


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=MessageRole.choices)
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)

    class Meta:
        ref_name = "Message"


class PromptOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    messages = MessageSerializer(many=True)
    tags = serializers.ListField(child=serializers.CharField())
    source_file = serializers.CharField()
    source_line = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Prompt"


class PromptsApi(Api):
    """GET: a project's prompts (members), by tag or text. POST: add one (project admins)."""

    class InputSerializer(serializers.Serializer):
        messages = serializers.JSONField(
            required=False, help_text='The conversation: [{"role": "user", "content": "..."}].'
        )
        prompt = serializers.CharField(
            required=False, help_text="Shortcut for a single user turn instead of messages."
        )
        tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)

        class Meta:
            ref_name = "PromptCreate"

        def validate(self, attrs: dict) -> dict:
            if ("messages" in attrs) == ("prompt" in attrs):
                raise serializers.ValidationError({"messages": "send either messages or prompt"})
            if "prompt" in attrs:
                attrs["messages"] = [{"role": "user", "content": attrs.pop("prompt")}]
            return attrs

    @extend_schema(
        parameters=[
            OpenApiParameter("tag", str, description="Only prompts with this tag."),
            OpenApiParameter("search", str, description="Text found in any turn."),
        ],
        operation_id="projects_prompts_list",
        responses=paginated(PromptOutputSerializer, "Prompt"),
    )
    def get(self, request, project_id: int):
        project = project_with_role(
            user=request.user, project_id=project_id, minimum=Role.ANNOTATOR
        )
        prompts = selectors.prompt_list(
            project=project,
            tag=request.query_params.get("tag") or None,
            search=request.query_params.get("search") or None,
        )
        return self.paginate(prompts, PromptOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: PromptOutputSerializer,
            200: PromptOutputSerializer,
            400: ErrorSerializer,
        },
        description="201 when created; 200 with the existing prompt when the conversation "
        "is already in the project.",
    )
    def post(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prompt, created = prompt_create(project=project, **data.validated_data)
        return Response(
            PromptOutputSerializer(prompt).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PromptApi(Api):
    @extend_schema(responses=PromptOutputSerializer)
    def get(self, request, prompt_id: int):
        prompt = visible_or_404(
            selectors.prompt_list_for(user=request.user), pk=prompt_id, what="prompt"
        )
        return Response(PromptOutputSerializer(prompt).data)


class ResponseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    prompt = serializers.IntegerField(source="prompt_id")
    text = serializers.CharField(trim_whitespace=False)
    source = serializers.CharField()
    model_version = serializers.CharField(source="model_version.name", allow_null=True)
    generation_params = serializers.DictField()
    edited_from = serializers.IntegerField(source="edited_from_id", allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "CandidateResponse"


class PromptResponsesApi(Api):
    """GET: a prompt's responses with provenance (reviewers). POST: add one (project admins)."""

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(trim_whitespace=False)
        source = serializers.CharField(required=False, allow_blank=True, default="")
        generation_params = serializers.DictField(required=False, default=dict)
        model_version = serializers.PrimaryKeyRelatedField(
            queryset=ModelVersion.objects.all(), required=False, allow_null=True, default=None
        )

        class Meta:
            ref_name = "CandidateResponseCreate"

    def _prompt(self, request, prompt_id: int, minimum: Role) -> Prompt:
        prompt = visible_or_404(
            selectors.prompt_list_for(user=request.user), pk=prompt_id, what="prompt"
        )
        project_with_role(user=request.user, project_id=prompt.project_id, minimum=minimum)
        return prompt

    @extend_schema(
        operation_id="prompts_responses_list",
        responses=paginated(ResponseOutputSerializer, "CandidateResponse"),
    )
    def get(self, request, prompt_id: int):
        prompt = self._prompt(request, prompt_id, Role.REVIEWER)
        return self.paginate(selectors.response_list(prompt=prompt), ResponseOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ResponseOutputSerializer,
            200: ResponseOutputSerializer,
            400: ErrorSerializer,
        },
        description="201 when created; 200 with the existing response for an identical text.",
    )
    def post(self, request, prompt_id: int):
        prompt = self._prompt(request, prompt_id, Role.ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        response, created = response_create(prompt=prompt, **data.validated_data)
        return Response(
            ResponseOutputSerializer(response).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ProjectResponsesApi(Api):
    """GET: every response in a project with provenance (reviewers)."""

    @extend_schema(
        operation_id="projects_responses_list",
        responses=paginated(ResponseOutputSerializer, "CandidateResponse"),
    )
    def get(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.REVIEWER)
        return self.paginate(selectors.response_list(project=project), ResponseOutputSerializer)


class BlindItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="response.id")
    position = serializers.IntegerField(help_text="Canonical position: 0 is 'a', 1 is 'b'.")
    text = serializers.CharField(source="response.text", trim_whitespace=False)

    class Meta:
        ref_name = "ComparisonResponse"


class ProvenanceItemSerializer(BlindItemSerializer):
    source = serializers.CharField(source="response.source")
    model_version = serializers.CharField(source="response.model_version.name", allow_null=True)

    class Meta:
        ref_name = "ComparisonResponseWithProvenance"


class PromptBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    messages = MessageSerializer(many=True)

    class Meta:
        ref_name = "ComparisonPrompt"


class BlindComparisonSerializer(serializers.Serializer):
    """What an annotator sees: no provenance, no vote counts."""

    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    prompt = PromptBriefSerializer()
    responses = BlindItemSerializer(source="items", many=True)

    class Meta:
        ref_name = "BlindComparison"


class ComparisonSerializer(BlindComparisonSerializer):
    """What reviewers and project admins see."""

    responses = ProvenanceItemSerializer(source="items", many=True)
    vote_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Comparison"


def comparison_serializer_for(*, user, project) -> type[serializers.Serializer]:
    if selectors.user_has_role(user=user, project=project, minimum=Role.REVIEWER):
        return ComparisonSerializer
    return BlindComparisonSerializer


class ComparisonsApi(Api):
    """GET: a project's comparisons (members). POST: compare responses of a prompt (admins)."""

    class InputSerializer(serializers.Serializer):
        prompt = id_field()
        responses = serializers.ListField(
            child=id_field(),
            min_length=2,
            help_text="Response ids in canonical order: the first is 'a'.",
        )

        class Meta:
            ref_name = "ComparisonCreate"

    @extend_schema(
        parameters=[OpenApiParameter("prompt", int, description="Only this prompt's.")],
        operation_id="projects_comparisons_list",
        responses={200: paginated(ComparisonSerializer, "Comparison"), 400: ErrorSerializer},
        description="Annotators get the blind shape: no source, model_version, vote_count.",
    )
    def get(self, request, project_id: int):
        project = project_with_role(
            user=request.user, project_id=project_id, minimum=Role.ANNOTATOR
        )
        comparisons = selectors.comparison_list(project=project)
        prompt_id = int_param(request, "prompt")
        if prompt_id is not None:
            comparisons = comparisons.filter(prompt_id=prompt_id)
        return self.paginate(
            comparisons, comparison_serializer_for(user=request.user, project=project)
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: ComparisonSerializer, 200: ComparisonSerializer, 400: ErrorSerializer},
    )
    def post(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prompt = visible_or_404(
            selectors.prompt_list(project=project), pk=data.validated_data["prompt"], what="prompt"
        )
        ids = data.validated_data["responses"]
        found = {r.pk: r for r in selectors.response_list(prompt=prompt).filter(pk__in=ids)}
        missing = [rid for rid in ids if rid not in found]
        if missing:
            raise serializers.ValidationError(
                {"responses": f"responses {missing} do not answer prompt {prompt.pk}"}
            )
        comparison, created = comparison_create(
            project=project, prompt=prompt, responses=[found[rid] for rid in ids]
        )
        comparison = selectors.comparison_list(project=project).get(pk=comparison.pk)
        return Response(
            ComparisonSerializer(comparison).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ComparisonApi(Api):
    @extend_schema(responses=ComparisonSerializer)
    def get(self, request, comparison_id: int):
        comparison = visible_or_404(
            selectors.comparison_list_for(user=request.user), pk=comparison_id, what="comparison"
        )
        serializer = comparison_serializer_for(user=request.user, project=comparison.project)
        return Response(serializer(comparison).data)
