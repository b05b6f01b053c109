"""Forms speak in what the rater saw (left/right, display order); services speak canonically."""

from __future__ import annotations

import json

from django import forms

from annotate.models import Choice, Flag, Strength

SHOWN_TO_CANONICAL_SWAP = {Choice.A: Choice.B, Choice.B: Choice.A}


class VoteForm(forms.Form):
    choice = forms.ChoiceField(choices=Choice.choices, required=False)
    strength = forms.TypedChoiceField(
        choices=Strength.choices, coerce=int, required=False, empty_value=None
    )
    ranking = forms.CharField(required=False, help_text="JSON tiers of response ids, best first.")
    rationale = forms.CharField(required=False, max_length=10_000)
    edited_text = forms.CharField(required=False, strip=False, max_length=100_000)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)
    edit_source = forms.IntegerField(required=False)
    flag = forms.ChoiceField(choices=[("", "No flag"), *Flag.choices], required=False)
    flag_note = forms.CharField(required=False, max_length=500)

    def __init__(
        self, *args, display_order: list[int], canonical: list[int], criteria: list[str], **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.display_order = display_order
        self.canonical = canonical
        self.criteria = criteria

    def clean_edited_text(self) -> str:
        # Browsers send line breaks as CRLF; the text stored is the one the rater typed.
        return (self.cleaned_data.get("edited_text") or "").replace("\r\n", "\n")

    def clean_rationale(self) -> str:
        return (self.cleaned_data.get("rationale") or "").replace("\r\n", "\n")

    def clean_ranking(self):
        raw = self.cleaned_data.get("ranking")
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg}") from exc
        return value

    def canonical_choice(self) -> str:
        """The rater chose by what they saw on the left (A) or right (B)."""
        choice = self.cleaned_data.get("choice") or ""
        swapped = len(self.display_order) == 2 and self.display_order[0] != self.canonical[0]
        return SHOWN_TO_CANONICAL_SWAP.get(choice, choice) if swapped else choice

    def ratings(self) -> dict[str, dict[str, int]]:
        """Fields named rating-<response id>-<criterion> with values 1..5; blanks skipped."""
        out: dict[str, dict[str, int]] = {}
        for rid in self.canonical:
            for criterion in self.criteria:
                raw = self.data.get(f"rating-{rid}-{criterion}")
                if raw:
                    try:
                        out.setdefault(str(rid), {})[criterion] = int(raw)
                    except ValueError:
                        self.add_error(None, f"rating for {criterion} must be a number")
        return out


class SkipForm(forms.Form):
    reason = forms.CharField(required=False, max_length=200)
    flag = forms.ChoiceField(choices=[("", "No flag"), *Flag.choices], required=False)


class AdjudicationForm(forms.Form):
    """A reviewer's verdict: a choice (pairwise), or a rank per response (N-way) as fields
    rank-<response id> = 1, 2, ...; equal ranks tie. The review page's drag-and-drop only sets
    those fields, so the form works without JavaScript and nobody types ids."""

    choice = forms.ChoiceField(choices=Choice.choices, required=False)
    note = forms.CharField(required=False, max_length=10_000)

    def ranking(self, response_ids: list[int]) -> list[list[int]] | None:
        """Tiers of response ids, best first, in the order the fields came (the arrangement
        on screen); None when a response has no rank."""
        ranks: dict[int, int] = {}
        for key in self.data:
            rid = key.removeprefix("rank-")
            if key.startswith("rank-") and rid.isdigit() and int(rid) in response_ids:
                try:
                    ranks[int(rid)] = int(self.data[key])
                except ValueError:
                    return None
        if sorted(ranks) != sorted(response_ids):
            return None
        return [
            [rid for rid, r in ranks.items() if r == rank] for rank in sorted(set(ranks.values()))
        ]
