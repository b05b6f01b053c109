"""Server time of "submit a vote and get the next comparison", small data vs large data.

Builds a SQLite database with (by default) 100,000 prompts, 300,000 responses and 1,000,000 votes
(250,000 comparisons judged by 4 raters each, 50,000 more still open), then times the annotator's
htmx POST in-process with Django's test client and counts its SQL queries. The same is measured
first on a tiny database, so the figures show whether time or queries grow with the data.

    .venv/bin/python bench/annotate.py [--prompts 100000] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(db_path: Path, prompts: int, open_needed: int = 0, raters: int = 200) -> dict:
    """Bulk-load the shape with raw SQL: ORM objects would take hours at this size."""
    import hashlib

    con = sqlite3.connect(db_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    now = "2026-01-01 00:00:00"
    cur = con.cursor()
    cur.execute(
        "INSERT INTO annotate_project (name, slug, guidelines, criteria, overlap, mode, created_at)"
        " VALUES ('Bench', 'bench', '', '[\"helpful\"]', 4, 'pairwise', ?)",
        (now,),
    )
    project_id = cur.lastrowid
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

    def h(*parts) -> str:
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    cur.executemany(
        "INSERT INTO annotate_prompt (id, project_id, messages, tags, source_file, source_line,"
        " content_hash, created_at) VALUES (?, ?, ?, '[]', 'bench', NULL, ?, ?)",
        (
            (
                p,
                project_id,
                f'[{{"role": "user", "content": "Question {p}: explain something."}}]',
                h("p", p),
                now,
            )
            for p in range(1, prompts + 1)
        ),
    )
    cur.executemany(
        "INSERT INTO annotate_response (id, prompt_id, text, source, generation_params, content_hash,"
        " created_at) VALUES (?, ?, ?, 'bench', '{}', ?, ?)",
        (
            (3 * (p - 1) + k, p, f"Answer {k} to question {p}. " * 8, h("r", p, k), now)
            for p in range(1, prompts + 1)
            for k in (1, 2, 3)
        ),
    )
    # Every prompt: 3 responses -> 3 pairwise comparisons; 250k of them (at 100k prompts) fully voted.
    n_comparisons = 3 * prompts
    # Leave at least `open_needed` comparisons unjudged, so the measured rater never runs dry.
    judged = max(0, min(250_000 * prompts // 100_000, n_comparisons - open_needed))
    pairs = [(1, 2), (1, 3), (2, 3)]

    def comparisons():
        cid = 0
        for p in range(1, prompts + 1):
            for _ in pairs:
                cid += 1
                full = cid <= judged
                yield (cid, project_id, p, h("c", cid), 4 if full else 0, 4 if full else 0, 0, now)

    cur.executemany(
        "INSERT INTO annotate_comparison (id, project_id, prompt_id, content_hash, vote_count,"
        " slots_taken, reopened, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        comparisons(),
    )
    cur.executemany(
        "INSERT INTO annotate_comparisonitem (comparison_id, response_id, position) VALUES (?, ?, ?)",
        (
            (3 * (p - 1) + i + 1, 3 * (p - 1) + (a if pos == 0 else b), pos)
            for p in range(1, prompts + 1)
            for i, (a, b) in enumerate(pairs)
            for pos in (0, 1)
        ),
    )

    def votes():
        for cid in range(1, judged + 1):
            for j in range(4):
                rater = rater_ids[(cid * 7 + j * 53) % len(rater_ids)]
                yield (cid, rater, now)

    cur.executemany(
        "INSERT OR IGNORE INTO annotate_vote (comparison_id, rater_id, choice, strength, ranking,"
        " ratings, rationale, time_spent_ms, display_order, metadata, created_at, updated_at)"
        " VALUES (?, ?, 'a', 2, NULL, '{}', '', 1000, '[]', '{}', ?, ?)",
        ((c, r, t, t) for c, r, t in votes()),
    )
    cur.executemany(
        "INSERT OR IGNORE INTO annotate_assignment (comparison_id, rater_id, project_id, status,"
        " display_order, skip_reason, flag, assigned_at, completed_at)"
        " VALUES (?, ?, ?, 'done', '[]', '', '', ?, ?)",
        ((c, r, project_id, t, t) for c, r, t in votes()),
    )
    con.commit()
    counts = {
        table: con.execute(f"SELECT COUNT(*) FROM annotate_{table}").fetchone()[0]
        for table in ("prompt", "response", "comparison", "vote", "assignment")
    }
    con.execute("ANALYZE")
    con.close()
    return counts


def measure(requests: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from annotate.models import Membership, Project

    project = Project.objects.get(slug="bench")
    user, _ = get_user_model().objects.get_or_create(username=f"bench-annotator-{time.time_ns()}")
    Membership.objects.create(project=project, user=user, role="annotator")
    client = Client()
    client.force_login(user)
    html = client.get("/p/bench/", HTTP_HX_REQUEST="true").content.decode()
    times, queries = [], []
    import re

    panel = re.compile(r'data-comparison="(\d+)"')
    for _ in range(requests):
        current = panel.search(html).group(1)
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.post(
                f"/p/bench/c/{current}/vote/",
                {"choice": "a", "strength": "2"},
                HTTP_HX_REQUEST="true",
            )
            times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.content[:500]
        html = response.content.decode()
        queries.append(len(ctx.captured_queries))
        reset_queries()
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(0.95 * (len(times) - 1))],
        "max_ms": times[-1],
        "queries_min": min(queries),
        "queries_max": max(queries),
    }


def run(prompts: int, requests: int) -> dict:
    """Build a database of the given size in a fresh directory and measure it in a child process."""
    import json
    import subprocess

    workdir = Path(tempfile.mkdtemp(prefix="ps-bench-annotate-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "PS_DATA_DIR": str(workdir),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "ALLOWED_HOSTS": "testserver",
    }
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True
    )
    t0 = time.perf_counter()
    counts = build(workdir / "bench.sqlite3", prompts, open_needed=requests + 10)
    build_s = time.perf_counter() - t0
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--requests", str(requests)],
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"measuring failed:\n{out.stderr[-3000:]}")
    return {
        "counts": counts,
        "build_s": round(build_s, 1),
        **json.loads(out.stdout.strip().splitlines()[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import json

        import django

        django.setup()
        print(json.dumps(measure(args.requests)))
        return
    small = run(max(100, args.requests), args.requests)
    large = run(args.prompts, args.requests)
    for name, result in (("small", small), ("large", large)):
        c = result["counts"]
        print(
            f"{name:5}: {c['prompt']:>7} prompts {c['response']:>7} responses {c['vote']:>8} votes"
            f" | vote+next p50 {result['p50_ms']:.2f} ms p95 {result['p95_ms']:.2f} ms"
            f" max {result['max_ms']:.2f} ms | queries/request {result['queries_min']}-{result['queries_max']}"
            f" | build {result['build_s']} s"
        )
    print(f"p95 large/small: {large['p95_ms'] / small['p95_ms']:.2f}x (target: p95 under 15 ms)")
    grows = large["queries_max"] > small["queries_max"]
    print(f"query count grows with data: {'YES' if grows else 'no'}")


if __name__ == "__main__":
    main()
