"""manage.py rater_quality --project SLUG: the rater-quality table, flagged raters first."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from judges.quality import rater_quality_report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = "Print a project's agreement statistics and rater quality, flagged raters first."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="Project slug.")

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        report = rater_quality_report(project=project)
        a = report.agreement
        out = self.stdout
        out.write(f"{project.name}: {report.votes} human pairwise votes, {report.gold_items} gold")
        for label, stat in [("choice", a.choice), ("strength", a.strength), ("ranking", a.ranking)]:
            if stat is not None:
                out.write(
                    f"  {label}: alpha ({stat.level}) {_num(stat.alpha)}, Fleiss kappa "
                    f"{_num(stat.fleiss_kappa)}, mean Cohen kappa {_num(stat.mean_cohen_kappa)}, "
                    f"mean tau-b {_num(stat.mean_tau_b)}"
                )
        for criterion, stat in a.criteria.items():
            out.write(f"  rating {criterion}: alpha (ordinal) {_num(stat.alpha)}")
        header = (
            f"{'rater':<24} {'votes':>6} {'agree':>6} {'kappa':>6} {'gold':>6} {'time s':>7} "
            f"{'ties':>5} {'bad':>5} {'first':>6} {'longer':>6}  flags"
        )
        out.write(header)
        for row in report.raters:
            q = row.quality
            time = "-" if q.median_time_ms is None else f"{q.median_time_ms / 1000:.1f}"
            out.write(
                f"{row.name[:24]:<24} {q.votes:>6} {_pct(q.agreement.share):>6} "
                f"{_num(q.kappa):>6} {_pct(q.gold.share):>6} {time:>7} {_pct(q.tie_rate):>5} "
                f"{_pct(q.both_bad_rate):>5} {_pct(q.position.share):>6} "
                f"{_pct(q.length.share):>6}  {'; '.join(q.flags) or '-'}"
            )
