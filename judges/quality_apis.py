"""GET /api/judges/projects/<id>/rater-quality/: the project's agreement statistics and rater
quality (flags and why). Project admins and staff only: it names raters and their failings."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from annotate.apis.common import Api
from annotate.models import Role
from annotate.permissions import project_with_role


class RaterQualityApi(Api):
    """GET (project admins and staff): agreement per project, criterion and rater; rater flags."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        # Imported here: numpy, scipy and krippendorff stay out of every web process's start.
        from judges.quality import rater_quality_report

        return Response(rater_quality_report(project=project).as_dict())
