"""Export speed and memory: 1,000,000 preference pairs, beside a bare baseline, in one run.

    .venv/bin/python bench/export.py [--pairs N] [--repeat N] [--chunk-size N] [--dir DIR]

Shape of the data (a fresh SQLite database in a temporary directory, built with executemany):
one project, one human rater, and per pair one single-turn prompt (~60 characters), two responses
(~150 characters each, some non-ASCII), one comparison with two items and one vote ("a" or "b"
alternately, strength 1-3). Every comparison therefore yields exactly one pair.

Phases, each in a child process so its peak RSS is its own (ru_maxrss):
- baseline: one raw sqlite3 query joining prompt, both responses and the vote, picking
  chosen/rejected in SQL, json-encoding each row to a JSONL file: the least work that writes
  the same file;
- export: annotate.services.export.export_rows -> write_jsonl (the snapshot writer: JSONL plus
  its sha256), through Django's ORM, as `snapshot_export` runs it.
Both files must be byte-identical. Targets: export time <= 2x baseline, peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = "2025-01-01 00:00:00"
BATCH = 50_000


def _django(db: Path, data_dir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    os.environ["PS_DATA_DIR"] = str(data_dir)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- build -------------------------------------------------------------------------------------


def _filler(model, given: set[str]) -> tuple[list[str], tuple]:
    """Columns the bench does not set, with each field's default as the database stores it, so
    the bench keeps working when a model gains a column with a default."""
    from django.db import connection

    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.column in given or f.primary_key:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = NOW
        elif f.has_default():
            value = f.get_db_prep_save(f.get_default(), connection)
        elif f.null:
            value = None
        elif f.blank:
            value = ""
        else:
            raise SystemExit(
                f"bench: {model.__name__}.{f.name} needs a value; update bench/export.py"
            )
        columns.append(f.column)
        values.append(value)
    return columns, tuple(values)


def _insert(db: sqlite3.Connection, model, given: list[str], rows) -> None:
    extra_cols, extra_vals = _filler(model, set(given))
    cols = given + extra_cols
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ({", ".join(cols)}) '
        f"VALUES ({', '.join('?' * len(cols))})"
    )
    batch = []
    for row in rows:
        batch.append(row + extra_vals)
        if len(batch) >= BATCH:
            db.executemany(sql, batch)
            batch.clear()
    if batch:
        db.executemany(sql, batch)


def phase_build(db_path: Path, data_dir: Path, pairs: int) -> dict:
    _django(db_path, data_dir)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from annotate.models import Comparison, ComparisonItem, Project, Prompt, Rater, Response, Vote

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA synchronous=OFF")
    User = get_user_model()
    _insert(db, User, ["id", "username", "password"], [(1, "bench", "!")])
    _insert(db, Project, ["id", "name", "slug"], [(1, "Bench", "bench")])
    _insert(db, Rater, ["id", "kind", "name", "user_id"], [(1, "human", "user:bench", 1)])
    _insert(
        db,
        Prompt,
        ["id", "project_id", "messages", "content_hash"],
        (
            (
                i,
                1,
                json.dumps(
                    [{"role": "user", "content": f"Question {i}: how would you explain it?"}]
                ),
                f"{i:064x}",
            )
            for i in range(1, pairs + 1)
        ),
    )
    _insert(
        db,
        Response,
        ["id", "prompt_id", "text", "content_hash"],
        (
            (
                r,
                (r + 1) // 2,
                f"Answer {r} to question {(r + 1) // 2}. "
                + ("A clear, careful explanation — with détail. " if r % 2 else "A vague reply. ")
                * 3,
                f"{r:064x}",
            )
            for r in range(1, 2 * pairs + 1)
        ),
    )
    _insert(
        db,
        Comparison,
        ["id", "project_id", "prompt_id", "content_hash", "vote_count"],
        ((i, 1, i, f"{i:064x}", 1) for i in range(1, pairs + 1)),
    )
    _insert(
        db,
        ComparisonItem,
        ["comparison_id", "response_id", "position"],
        ((i // 2 + 1, i + 1, i % 2) for i in range(2 * pairs)),
    )
    _insert(
        db,
        Vote,
        ["comparison_id", "rater_id", "choice", "strength"],
        ((i, 1, "a" if i % 2 else "b", i % 3 + 1) for i in range(1, pairs + 1)),
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return {"seconds": time.perf_counter() - started, "db_mb": db_path.stat().st_size / 2**20}


# --- the two timed phases ----------------------------------------------------------------------

BASELINE_SQL = """
SELECT json_extract(p.messages, '$[0].content'),
       CASE v.choice WHEN 'a' THEN ra.text ELSE rb.text END,
       CASE v.choice WHEN 'a' THEN rb.text ELSE ra.text END
FROM annotate_comparison c
JOIN annotate_prompt p ON p.id = c.prompt_id
JOIN annotate_comparisonitem ia ON ia.comparison_id = c.id AND ia.position = 0
JOIN annotate_response ra ON ra.id = ia.response_id
JOIN annotate_comparisonitem ib ON ib.comparison_id = c.id AND ib.position = 1
JOIN annotate_response rb ON rb.id = ib.response_id
JOIN annotate_vote v ON v.comparison_id = c.id
ORDER BY c.id
"""


def phase_baseline(db_path: Path, out: Path) -> dict:
    rss_before = _rss_mb()
    encode = json.JSONEncoder(ensure_ascii=False).encode
    started, cpu = time.perf_counter(), time.process_time()
    db = sqlite3.connect(db_path)
    rows = 0
    with open(out, "w", encoding="utf-8") as fh:
        cursor = db.execute(BASELINE_SQL)
        while batch := cursor.fetchmany(2000):
            for prompt, chosen, rejected in batch:
                fh.write(encode({"prompt": prompt, "chosen": chosen, "rejected": rejected}) + "\n")
            rows += len(batch)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "rows": rows, "rss_before_mb": rss_before}


def phase_export(db_path: Path, data_dir: Path, out: Path, chunk_size: int) -> dict:
    _django(db_path, data_dir)
    from collections import Counter

    from annotate.models import Project
    from annotate.services.export import ExportOptions, export_rows, write_jsonl

    rss_before = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    counts: Counter = Counter()
    rows = export_rows(
        project=Project.objects.get(slug="bench"),
        options=ExportOptions(),
        counts=counts,
        chunk_size=chunk_size,
    )
    n, digest = write_jsonl(rows, out)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rows": n,
        "sha256": digest,
        "rss_before_mb": rss_before,
        "counts": dict(counts),
    }


# --- driver ------------------------------------------------------------------------------------


def _child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench: phase {args[1]} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _report(base: dict, ours: dict, pairs: int, identical: bool) -> bool:
    print(
        f"\n{'phase':<9} {'rows':>10} {'wall s':>7} {'cpu s':>6} {'rows/s':>9} "
        f"{'peak RSS':>9} {'RSS at start':>12}"
    )
    for name, r in (("baseline", base), ("export", ours)):
        print(
            f"{name:<9} {r['rows']:>10,} {r['seconds']:>7.2f} {r['cpu']:>6.2f} "
            f"{r['rows'] / r['seconds']:>9,.0f} {r['peak_rss_mb']:>6.0f} MB {r['rss_before_mb']:>9.0f} MB"
        )
    ratio = ours["seconds"] / base["seconds"]
    print(f"\nexport / baseline time: {ratio:.2f}x (target <= 2.0x)")
    print(f"export / baseline CPU time: {ours['cpu'] / base['cpu']:.2f}x")
    print(f"export peak RSS: {ours['peak_rss_mb']:.0f} MB (target < 300 MB)")
    print(f"identical JSONL: {'yes' if identical else 'NO'}")
    print("export counts: " + json.dumps(ours["counts"], sort_keys=True))
    ok = ratio <= 2.0 and ours["peak_rss_mb"] < 300 and identical and ours["rows"] == pairs
    print("result: " + ("PASS" if ok else "FAIL"))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the two timed phases N times, alternately, and keep each one's fastest run "
        "(steadier figures on a shared machine)",
    )
    parser.add_argument(
        "--dir", type=Path, help="work in this directory and keep it; reuse its database if built"
    )
    parser.add_argument("--phase", choices=["build", "baseline", "export"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        db, data = args.dir / "bench.sqlite3", args.dir / "data"
        if args.phase == "build":
            result = phase_build(db, data, args.pairs)
        elif args.phase == "baseline":
            result = phase_baseline(db, args.dir / "baseline.jsonl")
        else:
            result = phase_export(db, data, args.dir / "export.jsonl", args.chunk_size)
        result["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(result))
        return

    work = args.dir or Path(tempfile.mkdtemp(prefix="ps-bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    common = ["--dir", str(work), "--pairs", str(args.pairs), "--chunk-size", str(args.chunk_size)]
    try:
        if (work / "built.json").exists():
            print(f"reusing the database in {work}", flush=True)
        else:
            print(f"building {args.pairs:,} preference pairs in {work} ...", flush=True)
            build = _child(["--phase", "build", *common])
            (work / "built.json").write_text(json.dumps(build))
            print(f"  built in {build['seconds']:.1f} s, database {build['db_mb']:.0f} MB")
        runs: dict[str, list[dict]] = {"baseline": [], "export": []}
        for _ in range(args.repeat):
            for phase in runs:
                runs[phase].append(_child(["--phase", phase, *common]))
        base, ours = (min(runs[p], key=lambda r: r["seconds"]) for p in ("baseline", "export"))
        identical = _sha256(work / "baseline.jsonl") == ours["sha256"]
        if not _report(base, ours, args.pairs, identical):
            raise SystemExit(1)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
