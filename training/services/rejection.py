"""What a rejection sampling run leaves: two dataset snapshots of its project.

The engine writes best-of-K rows (training/engine/rejection.py); here they become an SFT snapshot
(the best completion per prompt) and a preference snapshot (best against worst), recorded like any
export (immutable directory, sha256, manifest) with their provenance: the run, the policy that
sampled, the reward model that ranked, K. Both are written in the transaction that marks the run
succeeded, so a failure leaves neither.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from annotate.models import DatasetSnapshot, SnapshotFormat, SnapshotKind
from annotate.services.export.writer import write_snapshot
from training.services.execution import JobConfigError

if TYPE_CHECKING:
    from training.models import TrainingRun

SFT_COLUMNS = ("prompt", "completion")
PAIR_COLUMNS = ("prompt", "chosen", "rejected", "margin")


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                yield {c: row[c] for c in columns if c in row}


def _format(path: Path) -> str:
    with path.open(encoding="utf-8") as fh:
        first = next((line for line in fh if line.strip()), "{}")
    return (
        SnapshotFormat.CONVERSATIONAL
        if isinstance(json.loads(first).get("prompt"), list)
        else SnapshotFormat.STANDARD
    )


def rejection_snapshots_record(*, run: TrainingRun) -> list[DatasetSnapshot]:
    """The SFT and preference snapshots of a finished rejection sampling run (the preference one
    only when some pair cleared min_margin). Their ids go into run.outputs["snapshots"]."""
    outputs = run.outputs or {}
    project = run.project or (run.snapshot.project if run.snapshot else None)
    metrics = run.final_metrics or {}
    provenance = {
        "rejection_sampling_run": run.pk,
        "policy": run.base.name,
        "reward_model": run.reward_model.name if run.reward_model else None,
        "k": run.hyperparameters.get("num_return_sequences"),
        "temperature": run.hyperparameters.get("temperature"),
        "min_margin": run.hyperparameters.get("min_margin"),
        "source_snapshot": run.snapshot_id,
    }
    made = []
    for role, kind, columns, label in (
        ("data_file", SnapshotKind.SFT, SFT_COLUMNS, "best-of-K SFT"),
        ("preference_file", SnapshotKind.PREFERENCE, PAIR_COLUMNS, "best-vs-worst pairs"),
    ):
        path = Path(outputs.get(role) or "")
        if not path.is_file():
            raise JobConfigError(f"The rejection sampling run reported no {role} ({path}).")
        if path.stat().st_size == 0:
            continue  # no pair cleared min_margin: nothing to record, the SFT rows still are
        counts = Counter(
            {
                "prompts": int(metrics.get("prompts", 0)),
                "samples": int(metrics.get("samples", 0)),
                "pairs": int(metrics.get("pairs", 0)),
            }
        )
        made.append(
            write_snapshot(
                rows=_rows(path, columns),
                counts=counts,
                project=project,
                kind=kind,
                fmt=_format(path),
                filters={**provenance, "selection": label},
                name=f"{project.slug if project else 'run'} {label} from run {run.pk}",
                user=run.created_by,
                save_to_disk=True,
            )
        )
    run.outputs = {**outputs, "snapshots": [s.pk for s in made]}
    type(run).objects.filter(pk=run.pk).update(outputs=run.outputs)
    return made
