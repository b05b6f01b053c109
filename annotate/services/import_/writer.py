"""Writing parsed rows a batch at a time, in bulk: a few queries per batch, not per row.

Prompts and responses dedupe by content hash against the database and the file, and so do
imported preference votes: a pair (prompt, chosen, rejected) already imported, under any file
name, or twice in one file, is counted as a duplicate vote and adds nothing. Comparisons and
votes go through annotate.services.comparisons.comparisons_create_many and
annotate.services.votes.votes_create_imported, so their rules (grouping per project mode, hash,
positions, vote_count) live in one place.
"""

from __future__ import annotations

from annotate.models import (
    Choice,
    Comparison,
    Project,
    Prompt,
    Rater,
    RaterKind,
    Response,
    Vote,
    content_hash,
)
from annotate.services.comparisons import comparison_groups, comparisons_create_many
from annotate.services.import_.report import ImportReport
from annotate.services.import_.rows import ParsedRow
from annotate.services.raters import rater_imported
from annotate.services.votes import votes_create_imported


class ImportWriter:
    """Writes the rows of one file into `project`, counting what it did in `report`."""

    def __init__(self, *, project: Project, filename: str, report: ImportReport) -> None:
        self.project = project
        self.filename = filename
        self.report = report
        self._rater: Rater | None = None

    def write(self, rows: list[ParsedRow]) -> None:
        prompts = self._prompts(rows)
        responses = self._responses(rows, prompts)
        self._comparisons(rows, prompts, responses)

    def _prompts(self, rows: list[ParsedRow]) -> list[Prompt]:
        hashes = [content_hash(row.messages) for row in rows]
        known = {
            p.content_hash: p
            for p in Prompt.objects.filter(project=self.project, content_hash__in=set(hashes)).only(
                "id", "project_id", "content_hash"
            )
        }
        new: dict[str, Prompt] = {}
        out = []
        for row, digest in zip(rows, hashes, strict=True):
            prompt = known.get(digest) or new.get(digest)
            if prompt is None:
                # bulk_create skips save(), which is where the hash is usually set.
                prompt = new[digest] = Prompt(
                    project=self.project,
                    messages=row.messages,
                    tags=row.tags,
                    source_file=self.filename[:500],
                    source_line=row.line,
                    content_hash=digest,
                )
            else:
                self.report.duplicate_prompts += 1
            out.append(prompt)
        Prompt.objects.bulk_create(new.values())
        self.report.created_prompts += len(new)
        return out

    def _responses(self, rows: list[ParsedRow], prompts: list[Prompt]) -> list[list[Response]]:
        """Each row's responses, deduped within the row, against the database and the file."""
        wanted = [
            [(prompt.pk, content_hash(text), text, source) for text, source in row.responses]
            for row, prompt in zip(rows, prompts, strict=True)
        ]
        keys = [(pid, digest) for row in wanted for pid, digest, _, _ in row]
        known: dict[tuple[int, str], Response] = {}
        if keys:
            for r in Response.objects.filter(
                prompt_id__in={k[0] for k in keys}, content_hash__in={k[1] for k in keys}
            ).only("id", "prompt_id", "content_hash"):
                known[(r.prompt_id, r.content_hash)] = r
        new: dict[tuple[int, str], Response] = {}
        out = []
        for row in wanted:
            mine: list[Response] = []
            for pid, digest, text, source in row:
                key = (pid, digest)
                response = known.get(key) or new.get(key)
                if response is None:
                    response = new[key] = Response(
                        prompt_id=pid, text=text, source=source[:200], content_hash=digest
                    )
                else:
                    self.report.duplicate_responses += 1
                if response not in mine:
                    mine.append(response)
            out.append(mine)
        Response.objects.bulk_create(new.values())
        self.report.created_responses += len(new)
        return out

    def _comparisons(
        self, rows: list[ParsedRow], prompts: list[Prompt], responses: list[list[Response]]
    ) -> None:
        """Candidates become comparisons per the project's mode; a preference row's pair
        [chosen, rejected] one comparison with a vote "a" (chosen) from the imported rater."""
        judged = [
            (row, prompt, answers)
            for row, prompt, answers in zip(rows, prompts, responses, strict=True)
            if row.kind in ("candidates", "preference")
        ]
        comparisons = comparisons_create_many(
            project=self.project, groups=[(prompt, answers) for _, prompt, answers in judged]
        )
        self.report.created_comparisons += len({c.pk for c in comparisons if c.created})
        made = iter(comparisons)
        verdicts: list[tuple[Comparison, str]] = []
        provenance: list[dict] = []
        for row, _, answers in judged:
            mine = [
                next(made) for _ in comparison_groups(mode=self.project.mode, responses=answers)
            ]
            if row.kind == "preference":
                (comparison,) = mine  # two responses make one comparison in either mode
                verdicts.append((comparison, Choice.A))
                provenance.append({"source_file": self.filename, "source_line": row.line})
        verdicts, provenance = self._new_verdicts(verdicts, provenance)
        if verdicts:
            self.report.created_votes += votes_create_imported(
                rater=self._imported_rater(), verdicts=verdicts, metadata=provenance
            )

    def _new_verdicts(
        self, verdicts: list[tuple[Comparison, str]], provenance: list[dict]
    ) -> tuple[list[tuple[Comparison, str]], list[dict]]:
        """The verdicts no imported rater holds yet. Comparisons are keyed on (prompt, responses
        in position order) and prompts and responses on their content, so (comparison, choice)
        is the pair's content: prompt + chosen + rejected. The swapped pair is another
        comparison, so it is kept (it disagrees, which the export then sees)."""
        if not verdicts:
            return verdicts, provenance
        held = set(
            Vote.objects.filter(
                rater__kind=RaterKind.IMPORTED,
                comparison_id__in={comparison.pk for comparison, _ in verdicts},
            ).values_list("comparison_id", "choice")
        )
        kept, kept_provenance = [], []
        for (comparison, choice), origin in zip(verdicts, provenance, strict=True):
            key = (comparison.pk, choice)
            if key in held:
                self.report.duplicate_votes += 1
                continue
            held.add(key)
            kept.append((comparison, choice))
            kept_provenance.append(origin)
        return kept, kept_provenance

    def _imported_rater(self) -> Rater:
        if self._rater is None:
            self._rater = rater_imported(source=self.filename[: 200 - len("imported:")])
        return self._rater
