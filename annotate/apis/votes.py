"""Votes: submit (or change) yours, list what you may see, undo yours."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from annotate import selectors
from annotate.apis.common import (
    Api,
    ErrorSerializer,
    column_int_field,
    id_field,
    int_param,
    paginated,
)
from annotate.models import Choice, Strength, Vote
from annotate.permissions import project_or_404, visible_or_404
from annotate.services.queue import assignment_for_comparison
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_delete, vote_submit


class VoteOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    comparison = serializers.IntegerField(source="comparison_id")
    rater = serializers.CharField(source="rater.name")
    rater_kind = serializers.CharField(source="rater.kind")
    choice = serializers.CharField(help_text="Canonical positions: 'a' is position 0.")
    strength = serializers.IntegerField(allow_null=True)
    ranking = serializers.JSONField(allow_null=True, help_text="Tiers of response ids, best first.")
    ratings = serializers.JSONField()
    edited_response = serializers.IntegerField(source="edited_response_id", allow_null=True)
    edited_text = serializers.CharField(
        source="edited_response.text", allow_null=True, trim_whitespace=False
    )
    rationale = serializers.CharField()
    time_spent_ms = serializers.IntegerField(allow_null=True)
    display_order = serializers.ListField(child=serializers.IntegerField())
    preference_probability = serializers.FloatField(allow_null=True)
    metadata = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Vote"


class VotesApi(Api):
    """GET: votes you may see (yours; all of a project you review). POST: vote on a comparison."""

    class InputSerializer(serializers.Serializer):
        comparison = id_field()
        choice = serializers.ChoiceField(
            choices=Choice.choices,
            required=False,
            allow_blank=True,
            default="",
            help_text="Pairwise: a, b, tie or both_bad, in canonical positions (a = position 0).",
        )
        strength = serializers.ChoiceField(
            choices=Strength.choices, required=False, allow_null=True, default=None
        )
        ranking = serializers.JSONField(
            required=False,
            allow_null=True,
            default=None,
            help_text="N-way: tiers of response ids, best first, e.g. [[12], [10, 11]].",
        )
        ratings = serializers.DictField(
            child=serializers.DictField(child=serializers.IntegerField()),
            required=False,
            default=dict,
            help_text='{"<response id>": {"<criterion>": 1..5}}',
        )
        edited_text = serializers.CharField(
            required=False,
            allow_null=True,
            allow_blank=True,
            default=None,
            trim_whitespace=False,
        )
        rationale = serializers.CharField(required=False, allow_blank=True, default="")
        time_spent_ms = column_int_field(
            Vote, "time_spent_ms", required=False, allow_null=True, default=None
        )
        display_order = serializers.ListField(
            child=serializers.IntegerField(), required=False, default=list
        )

        class Meta:
            ref_name = "VoteSubmit"

    @extend_schema(
        parameters=[
            OpenApiParameter("project", int, description="Only this project's votes."),
            OpenApiParameter("comparison", int, description="Only this comparison's votes."),
        ],
        operation_id="votes_list",
        responses={200: paginated(VoteOutputSerializer, "Vote"), 400: ErrorSerializer},
    )
    def get(self, request):
        project_id = int_param(request, "project")
        comparison_id = int_param(request, "comparison")
        votes = selectors.vote_list_for(
            user=request.user,
            project=project_or_404(user=request.user, project_id=project_id)
            if project_id is not None
            else None,
        )
        if comparison_id is not None:
            votes = votes.filter(comparison_id=comparison_id)
        return self.paginate(votes, VoteOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={201: VoteOutputSerializer, 200: VoteOutputSerializer, 400: ErrorSerializer},
        description="One vote per rater and comparison: 201 for a new vote, 200 when it "
        "replaced your earlier vote on the same comparison.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        comparison = visible_or_404(
            selectors.comparison_list_for(user=request.user),
            pk=fields.pop("comparison"),
            what="comparison",
        )
        rater = rater_for_user(user=request.user)
        assignment_for_comparison(comparison=comparison, rater=rater)
        # Only decides 201 or 200: a racing duplicate still updates the same single vote.
        existed = selectors.vote_exists(rater=rater, comparison=comparison)
        vote = vote_submit(comparison=comparison, rater=rater, **fields)
        vote = selectors.vote_list_for(user=request.user).get(pk=vote.pk)
        return Response(
            VoteOutputSerializer(vote).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )


class VoteApi(Api):
    """GET: one vote you may see. DELETE: undo your own vote."""

    def _vote(self, request, vote_id: int):
        return visible_or_404(selectors.vote_list_for(user=request.user), pk=vote_id, what="vote")

    @extend_schema(responses=VoteOutputSerializer)
    def get(self, request, vote_id: int):
        return Response(VoteOutputSerializer(self._vote(request, vote_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, vote_id: int):
        vote = self._vote(request, vote_id)
        if vote.rater.user_id != request.user.pk and not selectors.user_is_staff(user=request.user):
            raise PermissionDenied("You can only undo your own votes.")
        vote_delete(vote=vote)
        return Response(status=status.HTTP_204_NO_CONTENT)
