"""Files and snapshots: JSONL streamed to disk, a `datasets` directory, a DatasetSnapshot row.

Everything is written in a temporary directory beside the final one and renamed into place in
the same transaction that records the DatasetSnapshot, so a failed export leaves neither a
half-written directory nor a row.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from annotate.errors import ValidationError
from annotate.models import DatasetSnapshot, Project

JSONL_NAME = "data.jsonl"
DATASET_DIR = "dataset"
MANIFEST_NAME = "snapshot.json"
_LINES_PER_WRITE = 1000


def write_jsonl(rows: Iterable[dict], path: Path) -> tuple[int, str]:
    """Stream `rows` to `path` as UTF-8 JSON lines; returns (row count, sha256 of the bytes)."""
    digest = hashlib.sha256()
    encode = json.JSONEncoder(ensure_ascii=False).encode
    rows = iter(rows)
    count = 0
    with open(path, "wb") as fh:
        # A thousand rows per write and per hash update: per-row calls would cost more than
        # the encoding itself.
        while batch := list(islice(rows, _LINES_PER_WRITE)):
            data = ("\n".join(map(encode, batch)) + "\n").encode("utf-8")
            fh.write(data)
            digest.update(data)
            count += len(batch)
    return count, digest.hexdigest()


def save_dataset_dir(jsonl: Path, out_dir: Path, scratch: Path) -> None:
    """`datasets.load_from_disk(out_dir)` gives the same rows as the JSONL."""
    import datasets  # heavy: only when a snapshot is actually saved

    cache = scratch / "hf-cache"
    dataset = datasets.Dataset.from_json(str(jsonl), cache_dir=str(cache))
    dataset.save_to_disk(str(out_dir))
    del dataset
    shutil.rmtree(cache, ignore_errors=True)


def default_name(project: Project | None, kind: str, fmt: str) -> str:
    scope = project.slug if project else "all-projects"
    return f"{scope} {kind} {fmt} {timezone.now():%Y-%m-%d %H:%M}"


def write_snapshot(
    *,
    rows: Iterable[dict],
    counts: Counter,
    project: Project | None,
    kind: str,
    fmt: str,
    filters: dict,
    name: str | None,
    user,
    save_to_disk: bool,
) -> DatasetSnapshot:
    root = Path(settings.DATA_DIR) / "snapshots"
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        row_count, digest = write_jsonl(rows, scratch / JSONL_NAME)
        if row_count == 0:
            raise ValidationError(_empty_reason(counts), field="filters")
        files = {"jsonl": JSONL_NAME, "manifest": MANIFEST_NAME}
        if save_to_disk:
            save_dataset_dir(scratch / JSONL_NAME, scratch / DATASET_DIR, scratch)
            files["dataset"] = DATASET_DIR
        return _record(
            scratch=scratch,
            root=root,
            name=(name or default_name(project, kind, fmt))[:200],
            project=project,
            kind=kind,
            fmt=fmt,
            filters=filters,
            counts=dict(sorted(counts.items())),
            row_count=row_count,
            files=files,
            digest=digest,
            user=user,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # gone already when renamed into place


def _record(*, scratch: Path, root: Path, name: str, files: dict, **fields) -> DatasetSnapshot:
    final: Path | None = None
    try:
        with transaction.atomic():
            snapshot = DatasetSnapshot.objects.create(
                name=name,
                project=fields["project"],
                kind=fields["kind"],
                format=fields["fmt"],
                filters=fields["filters"],
                counts=fields["counts"],
                row_count=fields["row_count"],
                files=files,
                content_hash=fields["digest"],
                created_by=fields["user"] if getattr(fields["user"], "pk", None) else None,
                path="",
            )
            final = _final_dir(root, snapshot.pk, name)
            snapshot.path = str(final)
            snapshot.save(update_fields=["path"])
            _write_manifest(scratch / MANIFEST_NAME, snapshot)
            os.replace(scratch, final)
    except BaseException:
        if final is not None and final.exists():
            shutil.rmtree(final, ignore_errors=True)
        raise
    return snapshot


def _final_dir(root: Path, pk: int, name: str) -> Path:
    final = root / f"{pk}-{slugify(name)[:60] or 'snapshot'}"
    if final.exists():  # left by an older database that reused this id
        final = root / f"{final.name}-{uuid.uuid4().hex[:8]}"
    return final


def _write_manifest(path: Path, snapshot: DatasetSnapshot) -> None:
    """The snapshot's record beside its files, so a copied directory still says what it is."""
    manifest = {
        "id": snapshot.pk,
        "name": snapshot.name,
        "project": snapshot.project.slug if snapshot.project else None,
        "kind": snapshot.kind,
        "format": snapshot.format,
        "filters": snapshot.filters,
        "counts": snapshot.counts,
        "row_count": snapshot.row_count,
        "files": snapshot.files,
        "sha256": {"jsonl": snapshot.content_hash},
    }
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _empty_reason(counts: Counter) -> str:
    dropped = {k: v for k, v in sorted(counts.items()) if k.startswith("dropped_") and v}
    parts = [f"{counts.get('comparisons', 0)} comparisons"]
    parts.append(f"{counts.get('comparisons_without_votes', 0)} without matching votes")
    parts += [
        f"{v} {k.removeprefix('dropped_').replace('_', ' ')} dropped" for k, v in dropped.items()
    ]
    return "nothing to export with these filters (" + ", ".join(parts) + ")"
