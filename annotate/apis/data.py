"""Bulk data in and out: file import, exports to dataset snapshots, snapshot downloads.

Exports are training data: only staff and the project's admins may make or read them.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from annotate import selectors
from annotate.apis.common import Api, ErrorSerializer, int_param, paginated
from annotate.models import RaterKind, Role, SnapshotFormat, SnapshotKind
from annotate.permissions import project_with_role, visible_or_404
from annotate.services.export import snapshot_export
from annotate.services.export.options import ExportOptions, JudgeAdmission, JudgeVotes
from annotate.services.import_ import FORMATS, ImportFileError, data_import
from annotate.services.io_errors import storage_problem, too_deep


class ImportApi(Api):
    """POST a JSONL, JSON or CSV file to a project (project admins). All rows or none."""

    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        format = serializers.ChoiceField(
            choices=FORMATS, required=False, help_text="Default: from the file name's suffix."
        )
        skip_invalid = serializers.BooleanField(
            default=False, help_text="Import the good rows and list the bad ones instead."
        )

        class Meta:
            ref_name = "ImportUpload"

    class OutputSerializer(serializers.Serializer):
        created_prompts = serializers.IntegerField()
        duplicate_prompts = serializers.IntegerField()
        created_responses = serializers.IntegerField()
        duplicate_responses = serializers.IntegerField()
        created_comparisons = serializers.IntegerField()
        created_votes = serializers.IntegerField()
        rejected = serializers.IntegerField()
        rejected_rows = serializers.ListField(child=serializers.CharField())

        class Meta:
            ref_name = "ImportReport"

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={200: OutputSerializer, 400: ErrorSerializer},
    )
    def post(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        try:
            report = data_import(
                project=project,
                file=upload,
                filename=upload.name,
                fmt=data.validated_data.get("format"),
                skip_invalid=data.validated_data["skip_invalid"],
            )
        except ImportFileError as exc:
            return Response(
                {"field": exc.field, "detail": str(exc), "file": exc.file, "line": exc.line},
                status=status.HTTP_400_BAD_REQUEST,
            )
        except RecursionError:
            return Response(
                {"field": "file", "detail": too_deep(upload.name), "file": upload.name},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(self.OutputSerializer(report.as_dict()).data)


class SnapshotOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    project = serializers.IntegerField(source="project_id", allow_null=True)
    kind = serializers.CharField()
    format = serializers.CharField()
    filters = serializers.JSONField()
    counts = serializers.JSONField()
    row_count = serializers.IntegerField()
    files = serializers.SerializerMethodField(help_text="{name: download URL}")
    content_hash = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "DatasetSnapshot"

    def get_files(self, snapshot) -> dict[str, str]:
        """Download links for the snapshot's files (its dataset/ directory is not one)."""
        request = self.context.get("request")
        urls = {}
        for name in sorted(snapshot.files or {}):
            if not _snapshot_root(snapshot).joinpath(snapshot.files[name]).is_file():
                continue
            url = reverse("api:snapshot-download", args=[snapshot.pk]) + f"?file={name}"
            urls[name] = request.build_absolute_uri(url) if request else url
        return urls


class SnapshotsApi(Api):
    @extend_schema(
        parameters=[OpenApiParameter("project", int, description="Only this project's.")],
        operation_id="snapshots_list",
        responses={
            200: paginated(SnapshotOutputSerializer, "DatasetSnapshot"),
            400: ErrorSerializer,
        },
    )
    def get(self, request):
        snapshots = selectors.snapshot_list_for(user=request.user)
        project_id = int_param(request, "project")
        if project_id is not None:
            snapshots = snapshots.filter(project_id=project_id)
        return self.paginate(snapshots, SnapshotOutputSerializer)


class SnapshotApi(Api):
    @extend_schema(responses=SnapshotOutputSerializer)
    def get(self, request, snapshot_id: int):
        snapshot = visible_or_404(
            selectors.snapshot_list_for(user=request.user), pk=snapshot_id, what="snapshot"
        )
        return Response(SnapshotOutputSerializer(snapshot, context={"request": request}).data)


def _snapshot_root(snapshot) -> Path:
    root = Path(snapshot.path)
    return root if root.is_absolute() else Path(settings.DATA_DIR) / root


def snapshot_file_path(snapshot, name: str | None) -> Path:
    """The file `name` of a snapshot (default: its JSONL file), kept inside the snapshot dir."""
    files = snapshot.files or {}
    if name is None:
        name = next(
            (key for key, rel in sorted(files.items()) if str(rel).endswith(".jsonl")), None
        )
    if name not in files:
        raise NotFound(f"snapshot {snapshot.pk} has no file {name!r}; it has {sorted(files)}.")
    root = _snapshot_root(snapshot)
    path = (root / files[name]).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise NotFound(f"file {name!r} of snapshot {snapshot.pk} is missing on disk.")
    return path


class BinaryRenderer(BaseRenderer):
    """Lets clients ask for application/octet-stream; errors still come out as JSON text."""

    media_type = "application/octet-stream"
    format = "bin"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class SnapshotDownloadApi(Api):
    """GET one file of a snapshot, streamed (the JSONL rows unless ?file= names another)."""

    renderer_classes = [JSONRenderer, BinaryRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("file", str, description="Which file; default: the JSONL.")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request, snapshot_id: int):
        snapshot = visible_or_404(
            selectors.snapshot_list_for(user=request.user), pk=snapshot_id, what="snapshot"
        )
        path = snapshot_file_path(snapshot, request.query_params.get("file"))
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)  # noqa: SIM115


class ExportApi(Api):
    """POST export options to a project (project admins): writes and records a DatasetSnapshot."""

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(
            choices=SnapshotKind.choices, default=SnapshotKind.PREFERENCE
        )
        format = serializers.ChoiceField(
            choices=SnapshotFormat.choices, default=SnapshotFormat.STANDARD
        )
        rater_kinds = serializers.ListField(
            child=serializers.ChoiceField(choices=RaterKind.choices),
            default=lambda: list(RaterKind.values),
            help_text="Only votes by these kinds of rater count.",
        )
        since = serializers.DateTimeField(required=False, allow_null=True, default=None)
        until = serializers.DateTimeField(required=False, allow_null=True, default=None)
        min_agreement = serializers.FloatField(default=0.0, min_value=0.0, max_value=1.0)
        keep_ties = serializers.BooleanField(default=False)
        keep_both_bad = serializers.BooleanField(default=False)
        include_margin = serializers.BooleanField(default=False)
        judge_votes = serializers.ChoiceField(
            choices=JudgeVotes.choices,
            default=JudgeVotes.INCLUDE,
            help_text="AI-judge votes: include, exclude, or only judge votes (on top of "
            "rater_kinds).",
        )
        judge_admission = serializers.ChoiceField(
            choices=JudgeAdmission.choices,
            default=JudgeAdmission.ADMITTED,
            help_text="admitted: only judges passing the project's admission gate count; any: "
            "every judge. The gate's numbers are recorded in the snapshot's filters.",
        )
        judge_include = serializers.ListField(
            child=serializers.CharField(),
            default=list,
            help_text="Judge names to count although the gate does not admit them.",
        )
        judge_weight = serializers.FloatField(
            default=1.0,
            help_text="One judge vote's weight against one human vote (> 0) in the majority, "
            "the agreement share and the margin.",
        )
        judge_soft_labels = serializers.BooleanField(
            default=False,
            help_text='A pairwise judge vote counts p toward "a" and 1 - p toward "b", '
            "p = its preference probability.",
        )
        judge_min_confidence = serializers.FloatField(
            default=0.0,
            min_value=0.0,
            max_value=1.0,
            help_text="Drop judge votes whose confidence is below this.",
        )
        judge_consistent_only = serializers.BooleanField(
            default=False,
            help_text="Drop judge votes whose two presentation orders disagreed.",
        )
        name = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="Default: project, kind, date."
        )
        save_to_disk = serializers.BooleanField(
            default=True, help_text="Also write a datasets.load_from_disk directory."
        )

        class Meta:
            ref_name = "ExportRequest"

        def validate_judge_weight(self, value: float) -> float:
            if not value > 0:
                raise serializers.ValidationError("must be greater than 0")
            return value

    @extend_schema(
        request=InputSerializer,
        responses={201: SnapshotOutputSerializer, 400: ErrorSerializer, 503: ErrorSerializer},
        description="503 when the server cannot write the snapshot (its data directory is "
        "read-only or full): nothing is recorded.",
    )
    def post(self, request, project_id: int):
        project = project_with_role(user=request.user, project_id=project_id, minimum=Role.ADMIN)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        name, save_to_disk = fields.pop("name") or None, fields.pop("save_to_disk")
        options = ExportOptions(
            **{
                **fields,
                "rater_kinds": tuple(fields["rater_kinds"]),
                "judge_include": tuple(fields["judge_include"]),
            }
        )
        try:
            snapshot = snapshot_export(
                project=project,
                options=options,
                name=name,
                user=request.user,
                save_to_disk=save_to_disk,
            )
        except OSError as exc:
            return Response(
                {"field": None, "detail": storage_problem(exc)},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(
            SnapshotOutputSerializer(snapshot, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )
