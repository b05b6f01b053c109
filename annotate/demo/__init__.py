"""The demo project shipped with Preference Studio, loaded by `manage.py quickstart`.

- demo_project.jsonl: one prompt per line in the import format
  {"messages": [{"role", "content"}, ...], "responses": [{"text", "source"}, ...], "tags": [...]}.
  Every response was written for the demo, deliberately uneven in quality; a few contain hostile
  HTML (script, event handlers, javascript: links, iframes, remote images) that must render inert.
- demo_votes.jsonl: votes of three seeded raters (demo-rater-1..3) on most comparisons, one per
  line: {"prompt_index": i, "responses": [a, b], "rater": "demo-rater-1",
  "choice": "a" | "b" | "tie" | "both_bad", "strength": 1 | 2 | 3 | null}.
  `prompt_index` is the 0-based line of demo_project.jsonl, `responses` are 0-based indexes into
  that line's "responses", and "a" means responses[0] is better, whatever order the comparison
  keeps them in. strength goes with "a" or "b" only.
"""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
PROJECT_FILE = DEMO_DIR / "demo_project.jsonl"
VOTES_FILE = DEMO_DIR / "demo_votes.jsonl"
