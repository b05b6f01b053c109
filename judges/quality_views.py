"""Admin page: rater quality of a project (/admin/judges/projectjudging/rater-quality/<id>/),
registered by ProjectJudgingAdmin.get_urls so the admin's login and staff checks apply."""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from annotate.models import Project
from judges.views import num, pct


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}"


def _test(test) -> dict:
    return {"share": pct(test.share), "n": test.n, "p": _p(test.p_adjusted), "null": pct(test.null)}


def rater_rows(report) -> list[dict]:
    return [
        {
            "name": row.name,
            "flagged": row.quality.flagged,
            "flags": row.quality.flags,
            "votes": row.quality.votes,
            "agreement": _test(row.quality.agreement),
            "kappa": num(row.quality.kappa),
            "pairwise_kappa": num(row.mean_pairwise_kappa),
            "gold": _test(row.quality.gold),
            "median_time": "–"
            if row.quality.median_time_ms is None
            else f"{row.quality.median_time_ms / 1000:.1f} s",
            "tie_rate": pct(row.quality.tie_rate),
            "both_bad_rate": pct(row.quality.both_bad_rate),
            "position": _test(row.quality.position),
            "length": _test(row.quality.length),
        }
        for row in report.raters
    ]


def agreement_rows(report) -> list[dict]:
    a = report.agreement
    rows = []
    for label, stat in [
        ("Choice (a / b / no preference)", a.choice),
        ("Strength (signed, a much … b much)", a.strength),
        ("N-way ranking (tiers)", a.ranking),
        *((f"Rating: {c}", s) for c, s in a.criteria.items()),
    ]:
        if stat is None:
            continue
        rows.append(
            {
                "label": label,
                "units": stat.units,
                "votes": stat.votes,
                "level": stat.level,
                "alpha": num(stat.alpha),
                "fleiss": num(stat.fleiss_kappa),
                "cohen": num(stat.mean_cohen_kappa),
                "tau_b": num(stat.mean_tau_b),
                "pairs": stat.rater_pairs,
            }
        )
    return rows


def rater_quality_view(request, project_id: int) -> TemplateResponse:
    project = get_object_or_404(Project, pk=project_id)
    # Imported here: numpy, scipy and krippendorff stay out of every web process's start.
    from judges.quality import rater_quality_report

    report = rater_quality_report(project=project)
    context = {
        **admin.site.each_context(request),
        "title": f"Rater quality: {project.name}",
        "project": project,
        "report": report,
        "rules": report.rules,
        "rows": rater_rows(report),
        "agreement": agreement_rows(report),
    }
    return TemplateResponse(request, "judges/admin/rater_quality.html", context)
