"""Admin pages for judges: the agreement report of a project, and the list of projects.

Registered in the admin by ProjectJudgingAdmin.get_urls (so the admin's login and staff checks
apply): /admin/judges/projectjudging/agreement/ and .../agreement/<project id>/.
"""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from annotate.models import Project
from judges.selectors import (
    Score,
    agreement_report,
    judge_run_list,
    project_judging_for,
    route_counts,
)
from judges.services.gate import judge_admissions


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _score_row(label: str, score: Score, **extra) -> dict:
    return {
        "label": label,
        "n": score.n,
        "accuracy": pct(score.accuracy),
        "n_no_ties": score.n_no_ties,
        "accuracy_no_ties": pct(score.accuracy_no_ties),
        "kappa": num(score.kappa),
        **extra,
    }


def agreement_report_view(request, project_id: int) -> TemplateResponse:
    project = get_object_or_404(Project, pk=project_id)
    report = agreement_report(project=project)
    humans = report.humans
    rows = [
        _score_row(
            j.name,
            j.overall,
            votes=j.votes,
            consistency=pct(j.position_consistency),
            consistency_n=j.consistency_n,
            length_bias=pct(j.length_bias),
            length_n=j.length_n,
            confidence=num(j.mean_confidence),
        )
        for j in report.judges
    ]
    ceiling = _score_row(
        "Humans (each vs the others' majority)",
        humans.leave_one_out,
        votes=None,
        consistency="–",
        consistency_n=None,
        length_bias=pct(humans.length_bias),
        length_n=humans.length_n,
        confidence="–",
    )
    criteria = [
        {
            "name": criterion,
            "rows": [
                _score_row(j.name, j.criteria[criterion])
                for j in report.judges
                if criterion in j.criteria
            ]
            + (
                [_score_row("Humans (ceiling)", humans.criteria[criterion])]
                if criterion in humans.criteria
                else []
            ),
        }
        for criterion in report.criteria
    ]
    context = {
        **admin.site.each_context(request),
        "title": f"Judge agreement: {project.name}",
        "project": project,
        "report": report,
        "rows": rows,
        "ceiling": ceiling,
        "pairwise_agreement": pct(humans.pairwise_agreement),
        "criteria": [c for c in criteria if c["rows"]],
        "judging": project_judging_for(project=project),
        "gate": _gate(project),
        "routes": route_counts(project=project),
        "runs": judge_run_list(project=project)[:10],
    }
    return TemplateResponse(request, "judges/admin/agreement.html", context)


def _gate(project: Project) -> dict:
    thresholds, admissions = judge_admissions(project=project)
    return {
        "min_agreement_pct": pct(thresholds.min_agreement),
        "min_comparisons": thresholds.min_comparisons,
        "rows": [
            {
                "judge": a.judge,
                "admitted": a.admitted,
                "reason": a.reason,
                "accuracy_pct": pct(a.accuracy),
                "n": a.n,
                "consistency_pct": pct(a.position_consistency),
                "length_pct": pct(a.length_bias),
            }
            for a in admissions
        ],
    }


def agreement_index(request) -> TemplateResponse:
    context = {
        **admin.site.each_context(request),
        "title": "Judge agreement by project",
        "projects": Project.objects.order_by("name"),
    }
    return TemplateResponse(request, "judges/admin/agreement_index.html", context)
