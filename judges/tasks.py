"""django-q2 entry points for judges. Tasks take ids and call services."""

from __future__ import annotations

from annotate.models import Project
from judges.models import JudgeRun
from judges.services.routing import routing_apply
from judges.services.runs import judge_run_execute


def judge_run_task(run_id: int) -> dict:
    """Run (or resume) a judge run; the outcome is on the JudgeRun row, and returned."""
    run: JudgeRun = judge_run_execute(run_id=run_id)
    return {"run": run.pk, "status": run.status, "voted": run.voted, "error": run.error}


def routing_apply_task(project_id: int) -> dict:
    """Re-route a project's comparisons (e.g. after humans labelled the gold sample)."""
    counts = routing_apply(project=Project.objects.get(pk=project_id))
    return dict(counts)
