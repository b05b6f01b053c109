"""Agreement and rater-quality statistics on 1,000,000 votes: seconds and peak RSS.

Builds a SQLite database with raw SQL (250,000 pairwise comparisons judged by 4 of 200 raters
each, with strength, time, display order and one 1-5 rating per response; two planted raters:
one always picks the response shown first, one the longer), then times, in a fresh process,
`judges.quality.rater_quality_report` (the selectors + every statistic). Removes its files.

    .venv/bin/python bench/agreement.py [--comparisons 250000] [--raters 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OVERLAP = 4


def build(db_path: Path, comparisons: int, raters: int) -> int:
    rng = random.Random(11)
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    now = "2026-01-01 00:00:00"
    cur = con.cursor()
    cur.execute(
        "INSERT INTO annotate_project (name, slug, guidelines, criteria, overlap, mode,"
        " strength_required, created_at)"
        " VALUES ('Bench', 'bench', '', '[\"helpful\"]', 4, 'pairwise', 0, ?)",
        (now,),
    )
    project = cur.lastrowid
    for r in range(raters):
        cur.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,"
            " is_staff, is_active, date_joined) VALUES ('!', 0, ?, '', '', '', 0, 1, ?)",
            (f"rater{r}", now),
        )
        cur.execute(
            "INSERT INTO annotate_rater (kind, name, user_id, created_at) VALUES ('human', ?, ?, ?)",
            (f"user:rater{r}", cur.lastrowid, now),
        )
    rater_ids = [row[0] for row in cur.execute("SELECT id FROM annotate_rater ORDER BY id")]
    cur.executemany(
        "INSERT INTO annotate_prompt (id, project_id, messages, tags, source_file, source_line,"
        " content_hash, created_at) VALUES (?, ?, '[]', '[]', 'bench', NULL, ?, ?)",
        ((p, project, f"p{p}", now) for p in range(1, comparisons + 1)),
    )
    lengths = [rng.randint(20, 400) for _ in range(2 * comparisons)]
    cur.executemany(
        "INSERT INTO annotate_response (id, prompt_id, text, source, generation_params,"
        " content_hash, created_at) VALUES (?, ?, ?, 'bench', '{}', ?, ?)",
        ((i + 1, i // 2 + 1, "x" * lengths[i], f"r{i}", now) for i in range(2 * comparisons)),
    )
    cur.executemany(
        "INSERT INTO annotate_comparison (id, project_id, prompt_id, content_hash, vote_count,"
        " slots_taken, reopened, created_at) VALUES (?, ?, ?, ?, 4, 4, 0, ?)",
        ((c, project, c, f"c{c}", now) for c in range(1, comparisons + 1)),
    )
    cur.executemany(
        "INSERT INTO annotate_comparisonitem (comparison_id, response_id, position)"
        " VALUES (?, ?, ?)",
        ((c, 2 * (c - 1) + 1 + pos, pos) for c in range(1, comparisons + 1) for pos in (0, 1)),
    )

    def votes():
        for c in range(1, comparisons + 1):
            a, b = 2 * (c - 1) + 1, 2 * (c - 1) + 2
            truth = "a" if rng.random() < 0.5 else "b"
            longer = "a" if lengths[a - 1] >= lengths[b - 1] else "b"
            for j in rng.sample(range(raters), OVERLAP):
                order = [a, b] if rng.random() < 0.5 else [b, a]
                if j == 0:
                    choice = "a" if order[0] == a else "b"
                elif j == 1:
                    choice = longer
                else:
                    roll = rng.random()
                    choice = truth if roll < 0.75 else "tie" if roll < 0.85 else "ab"[truth == "a"]
                ratings = json.dumps(
                    {str(a): {"helpful": rng.randint(1, 5)}, str(b): {"helpful": rng.randint(1, 5)}}
                )
                yield (
                    c,
                    rater_ids[j],
                    choice,
                    rng.randint(1, 3) if choice in "ab" else None,
                    ratings,
                    rng.randint(1000, 60000),
                    json.dumps(order),
                    now,
                    now,
                )

    cur.executemany(
        "INSERT INTO annotate_vote (comparison_id, rater_id, choice, strength, ranking, ratings,"
        " rationale, time_spent_ms, display_order, metadata, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, NULL, ?, '', ?, ?, '{}', ?, ?)",
        votes(),
    )
    con.commit()
    (count,) = cur.execute("SELECT COUNT(*) FROM annotate_vote").fetchone()
    con.close()
    return count


def measure() -> dict:
    from annotate.models import Project
    from judges.quality import rater_quality_report

    project = Project.objects.get(slug="bench")
    t0 = time.perf_counter()
    report = rater_quality_report(project=project)
    seconds = time.perf_counter() - t0
    a = report.agreement
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "votes": report.votes,
        "raters": len(report.raters),
        "alpha_choice": a.choice.alpha,
        "fleiss": a.choice.fleiss_kappa,
        "mean_cohen": a.choice.mean_cohen_kappa,
        "alpha_strength": a.strength.alpha if a.strength else None,
        "alpha_helpful": a.criteria["helpful"].alpha if "helpful" in a.criteria else None,
        "flagged": [r.name for r in report.flagged],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=250_000)
    parser.add_argument("--raters", type=int, default=200)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import django

        django.setup()
        print(json.dumps(measure()))
        return
    workdir = Path(tempfile.mkdtemp(prefix="ps-bench-agreement-"))
    try:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "PS_DATA_DIR": str(workdir),
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
        }
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True
        )
        t0 = time.perf_counter()
        votes = build(workdir / "bench.sqlite3", args.comparisons, args.raters)
        build_s = time.perf_counter() - t0
        out = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(f"measuring failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"built {votes} votes in {build_s:.1f} s")
    print(
        f"rater_quality_report: {result['seconds']} s, peak RSS {result['peak_rss_mb']} MB"
        f" (target: under 30 s, under 500 MB) | {result['votes']} votes, {result['raters']} raters"
    )
    print(
        f"alpha choice {result['alpha_choice']:.3f}, Fleiss {result['fleiss']:.3f}, mean Cohen"
        f" {result['mean_cohen']:.3f}, alpha strength {result['alpha_strength']:.3f},"
        f" alpha helpful {result['alpha_helpful']:.3f}; flagged: {', '.join(result['flagged'])}"
    )


if __name__ == "__main__":
    main()
