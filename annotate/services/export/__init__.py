"""Export votes as preference data that trl trains on directly, recorded as DatasetSnapshots.

Aggregation (docs/export.md has the full rules and the column layout of every kind/format).
Per comparison, only votes whose rater kind is in `rater_kinds` and created in [since, until]:

- pairwise (2 responses): majority of the verdicts a / b / tie / both_bad. A plurality tie
  between labels is dropped. a or b -> pair (chosen = winner). tie -> dropped, or with
  keep_ties written both ways round with margin 0 (the two Bradley-Terry terms pull the two
  rewards together). both_bad -> dropped, or with keep_both_bad written both ways round for
  pairs, both responses labelled undesirable for KTO. agreement = share of votes equal to the
  majority label; below min_agreement -> dropped. margin = mean signed strength toward the
  winner (strength 1-3, a/b votes without strength count 1, tie and both-bad votes 0).
- N-way (3+ responses): every vote's ranking (tiers, best first) orders each pair of responses;
  per pair, the majority of the votes that ordered it wins; equal counts -> dropped (all votes
  putting the two in one tier -> a tie). agreement = winner's votes / votes ranking both;
  margin = (winner's votes - loser's votes) / votes ranking both.
- edits: a vote's edited response E gives E > r for every response r of the comparison
  (edited > chosen > rejected), margin 1, whatever the majority said.
- identical (chosen, rejected) pairs of one prompt are written once.
- KTO: per prompt, a response winning more pairs than it loses is desirable (True), one losing
  more is undesirable (False); as many wins as losses -> dropped. SFT: per prompt, responses
  that win a pair and lose none (the edits, when there are any).
A reviewer's final verdict (reader.final_verdicts_for) replaces the majority when there is one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from annotate.models import DatasetSnapshot, Project, SnapshotFormat
from annotate.services.export.gate import JudgeScope, judge_scope_for
from annotate.services.export.options import ExportOptions
from annotate.services.export.reader import DEFAULT_CHUNK_SIZE, iter_prompt_tallies
from annotate.services.export.rows import BUILDERS, prompt_value
from annotate.services.export.writer import write_jsonl, write_snapshot

__all__ = ["ExportOptions", "export_judges", "export_rows", "snapshot_export", "write_jsonl"]


def export_rows(
    *,
    project: Project | None,
    options: ExportOptions,
    counts: Counter | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    judges: JudgeScope | None = None,
) -> Iterator[dict]:
    """Rows of `options.kind` in `options.format`, one at a time (a generator).

    `project=None` exports every project. Pass a Counter as `counts` to learn what was used and
    dropped once the generator is exhausted. `judges`: whose judge votes count, as export_judges
    gives it (by default it is asked for here).
    """
    options.validate()
    counts = counts if counts is not None else Counter()
    if judges is None:
        judges = export_judges(project=project, options=options)
    return _rows(project, options, counts, chunk_size, judges)


def export_judges(*, project: Project | None, options: ExportOptions) -> JudgeScope:
    """The judges whose votes the export counts, per the admission gate and the options."""
    if not options.counts_judges:
        return JudgeScope({}, {})
    return judge_scope_for(
        project_ids=[project.pk] if project is not None else None,
        admission=options.judge_admission,
        include=options.judge_include,
    )


def _rows(
    project: Project | None,
    options: ExportOptions,
    counts: Counter,
    chunk_size: int,
    judges: JudgeScope,
) -> Iterator[dict]:
    build = BUILDERS[options.kind]
    conversational = options.format == SnapshotFormat.CONVERSATIONAL
    margin = options.include_margin
    rows = prompts = 0
    for messages, tally, texts in iter_prompt_tallies(
        project_id=project.pk if project else None,
        options=options,
        counts=counts,
        chunk_size=chunk_size,
        judges=judges,
    ):
        prompts += 1
        batch = build(
            prompt_value(messages, conversational), tally, texts, counts, conversational, margin
        )
        rows += len(batch)
        yield from batch
    counts["prompts"] = prompts
    counts["rows"] = rows
    counts["comparisons_without_votes"] = counts["comparisons"] - counts["comparisons_with_votes"]


def snapshot_export(
    *,
    project: Project | None,
    options: ExportOptions,
    name: str | None = None,
    user=None,
    save_to_disk: bool = True,
) -> DatasetSnapshot:
    """Export to <DATA_DIR>/snapshots/<id>-<name>/ (data.jsonl, and dataset/ for
    datasets.load_from_disk when `save_to_disk`), recorded as a DatasetSnapshot.

    Raises annotate.errors.ValidationError when the options are invalid or no row matches.
    """
    counts: Counter = Counter()
    options.validate()
    judges = export_judges(project=project, options=options)
    rows = export_rows(project=project, options=options, counts=counts, judges=judges)
    filters = {"project": project.slug if project else None, **options.as_filters()}
    if options.counts_judges:
        filters["judge_gate"] = judges.record
    return write_snapshot(
        rows=rows,
        counts=counts,
        project=project,
        kind=options.kind,
        fmt=options.format,
        filters=filters,
        name=name,
        user=user,
        save_to_disk=save_to_disk,
    )
