"""Projects and their members."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from annotate import selectors
from annotate.apis.common import Api, ErrorSerializer, column_int_field, paginated
from annotate.models import Project, ProjectMode, Role
from annotate.permissions import project_or_404, project_with_role, require_staff
from annotate.services.projects import (
    membership_delete,
    membership_set,
    project_create,
    project_update,
)


class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    guidelines = serializers.CharField(help_text="Markdown shown to annotators.")
    criteria = serializers.ListField(child=serializers.CharField())
    overlap = serializers.IntegerField(help_text="Raters per comparison (k).")
    mode = serializers.ChoiceField(choices=ProjectMode.choices)
    my_role = serializers.ChoiceField(
        choices=Role.choices, allow_null=True, help_text="Your role here; null for staff."
    )
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Project"


class ProjectsApi(Api):
    """GET: the projects you are a member of (staff: all). POST: create one (staff)."""

    class CreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        slug = serializers.SlugField(max_length=200, required=False, allow_blank=True)
        guidelines = serializers.CharField(required=False, allow_blank=True, default="")
        criteria = serializers.ListField(child=serializers.CharField(), required=False)
        overlap = column_int_field(Project, "overlap", min_value=1, required=False, default=1)
        mode = serializers.ChoiceField(
            choices=ProjectMode.choices, required=False, default=ProjectMode.PAIRWISE
        )

        class Meta:
            ref_name = "ProjectCreate"

    @extend_schema(
        operation_id="projects_list", responses=paginated(ProjectOutputSerializer, "Project")
    )
    def get(self, request):
        projects = selectors.project_list_for(user=request.user).order_by("name")
        return self.paginate(projects, ProjectOutputSerializer)

    @extend_schema(
        request=CreateInputSerializer,
        responses={201: ProjectOutputSerializer, 400: ErrorSerializer},
    )
    def post(self, request):
        require_staff(user=request.user)
        data = self.CreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(**data.validated_data)
        project = selectors.project_list_for(user=request.user).get(pk=project.pk)
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectApi(Api):
    """GET: one project (members, staff). PATCH: change its settings (staff)."""

    class UpdateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        slug = serializers.SlugField(max_length=200, required=False)
        guidelines = serializers.CharField(required=False, allow_blank=True)
        criteria = serializers.ListField(child=serializers.CharField(), required=False)
        overlap = column_int_field(Project, "overlap", min_value=1, required=False)
        mode = serializers.ChoiceField(choices=ProjectMode.choices, required=False)

        class Meta:
            ref_name = "ProjectUpdate"

    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request, project_id: int):
        project = project_or_404(user=request.user, project_id=project_id)
        return Response(ProjectOutputSerializer(project).data)

    @extend_schema(
        request=UpdateInputSerializer,
        responses={200: ProjectOutputSerializer, 400: ErrorSerializer},
    )
    def patch(self, request, project_id: int):
        project = project_or_404(user=request.user, project_id=project_id)
        require_staff(user=request.user)
        data = self.UpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project_update(project=project, **data.validated_data)
        project = project_or_404(user=request.user, project_id=project_id)
        return Response(ProjectOutputSerializer(project).data)


class MembershipOutputSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        ref_name = "Membership"


class MembersApi(Api):
    """GET: who works on the project. POST: add a user or change their role (project admins)."""

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)

        class Meta:
            ref_name = "MembershipSet"

    @extend_schema(
        operation_id="projects_members_list",
        responses=paginated(MembershipOutputSerializer, "Membership"),
    )
    def get(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        return self.paginate(selectors.membership_list(project=project), MembershipOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: MembershipOutputSerializer,
            201: MembershipOutputSerializer,
            400: ErrorSerializer,
        },
    )
    def post(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(username=data.validated_data["username"]).first()
        if user is None:
            raise serializers.ValidationError(
                {"username": f"no user named {data.validated_data['username']!r}"}
            )
        membership, created = membership_set(
            project=project, user=user, role=data.validated_data["role"]
        )
        return Response(
            MembershipOutputSerializer(membership).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MemberApi(Api):
    """DELETE: remove a user from the project (project admins). Their votes stay."""

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, user_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None or not membership_delete(project=project, user=user):
            raise NotFound(f"user {user_id} is not a member of project {project.slug!r}.")
        return Response(status=status.HTTP_204_NO_CONTENT)
