"""Platform overhead on training: the same RM and DPO runs through the platform and bare.

    .venv/bin/python bench/train.py [--model DIR] [--rm-steps N] [--dpo-steps N] [--reps N]

Three ways to run the same job (same JobSpec: train/eval files, hyperparameters, seed):
- queued: a TrainingRun created by the service and run by a real `manage.py qcluster` worker
  (started once, beforehand: that one-off process start is not counted), which launches the
  engine child, tails its events into the database and records the result. Wall time from
  `run_create` until the run reads "succeeded" in the database.
- task: the same task body (`run_execute`) called in this process, so the CPU it spends
  supervising (data split, launch, tailing events into the database, recording the model) and
  the CPU of its engine child can be measured with getrusage.
- bare: `python -m training.engine.cli JOB.json` in a fresh directory, spawn to exit.
Every way pays the engine child's interpreter start and torch import. On a machine shared with
other work, wall times swing by tens of percent from one run to the next (--threads 1 steadies
them), so the CPU seconds are the steadier comparison: (task supervising CPU + its engine's CPU) / bare engine CPU. Medians and
minima over the repetitions are printed, with tokens/s as the engine measured them. Target: a
ratio of at most 1.10. The evaluation the platform queues after each run is cancelled before the
next measurement, so nothing else trains meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _django(db: Path, data_dir: Path) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"sqlite:///{db}",
        "PS_DATA_DIR": str(data_dir),
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return env


def _tiny_model(path: Path | None, scratch: Path) -> Path:
    if path is not None:
        return path
    from django.core.management import call_command

    out = scratch / "tiny"
    print("building the tiny model (once)...", flush=True)
    with open(os.devnull, "w") as quiet:
        call_command("build_tiny_model", "--out", str(out), stdout=quiet)
    return out


def _rows(n: int) -> list[dict]:
    from tests.training.engine.synthetic import preference_rows

    return preference_rows("train", n=n)


def _snapshot(rows: list[dict], data_dir: Path):
    from annotate.models import DatasetSnapshot

    directory = data_dir / "snapshots" / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return DatasetSnapshot.objects.create(
        name="bench",
        kind="preference",
        format="conversational",
        row_count=len(rows),
        files={"jsonl": "data.jsonl"},
        content_hash="0" * 64,
        path=str(directory),
    )


class Cluster:
    """`manage.py qcluster` on the bench database, warmed up by one trivial task."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**os.environ, **env, "Q_WORKERS": "1"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        from django_q.tasks import async_task, result

        task = async_task("math.floor", 1.5)
        deadline = time.monotonic() + 120
        while result(task) is None:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"bench: the qcluster did not start; see {log}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def _events(out_dir: Path) -> list[dict]:
    lines = (out_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _tokens_per_second(out_dir: Path) -> float:
    done = next(e for e in _events(out_dir) if e["event"] == "done")
    return float(done.get("metrics", {}).get("train_tokens_per_second", 0.0))


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _settle_followups(run) -> None:
    """Cancel the evaluation the platform queued, and wait until nothing runs."""
    from training.models import TrainingRun
    from training.services.runs import run_cancel

    for evaluation in TrainingRun.objects.filter(parent_run=run):
        if evaluation.is_active:
            try:
                run_cancel(run=evaluation)
            except Exception:  # noqa: BLE001 - it finished meanwhile
                pass
    while TrainingRun.objects.filter(status__in=["queued", "running"]).exists():
        time.sleep(0.2)


def _finished(run, how: str):
    run.refresh_from_db()
    if run.status != "succeeded":
        raise SystemExit(f"bench: {how} {run.kind} run {run.pk} {run.status}: {run.error}")
    _settle_followups(run)
    return run


def queued_run(kind: str, run_args: dict) -> dict:
    """Through the queue: a qcluster worker runs it."""
    from training.services.runs import run_create

    started = time.monotonic()
    run = run_create(kind=kind, **run_args)
    while True:
        run.refresh_from_db(fields=["status"])
        if run.status not in ("queued", "running"):
            break
        time.sleep(0.05)
    wall = time.monotonic() - started
    run = _finished(run, "queued")
    return {"run": run, "wall": wall, "tps": _tokens_per_second(Path(run.out_dir))}


def task_run(kind: str, run_args: dict) -> dict:
    """The task body in this process: its own CPU is the platform's supervising cost."""
    from training.services.runs import run_create, run_execute

    self_cpu, child_cpu = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    run = run_create(kind=kind, enqueue=False, **run_args)
    run_execute(run_id=run.pk)
    wall = time.monotonic() - started
    supervising = _cpu(resource.RUSAGE_SELF) - self_cpu
    engine = _cpu(resource.RUSAGE_CHILDREN) - child_cpu
    run = _finished(run, "task")
    return {
        "run": run,
        "wall": wall,
        "supervising_cpu": supervising,
        "engine_cpu": engine,
        "tps": _tokens_per_second(Path(run.out_dir)),
    }


def bare_run(spec_from: Path, scratch: Path, label: str) -> dict:
    spec = json.loads((spec_from / "job.json").read_text())
    out = scratch / label
    out.mkdir(parents=True)
    spec["out_dir"] = str(out)
    (out / "job.json").write_text(json.dumps(spec))
    child_cpu = _cpu(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with (out / "child.log").open("wb") as log:
        code = subprocess.call(
            [sys.executable, "-m", "training.engine.cli", str(out / "job.json")],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wall = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"bench: bare {label} exited {code}; see {out / 'child.log'}")
    return {
        "wall": wall,
        "engine_cpu": _cpu(resource.RUSAGE_CHILDREN) - child_cpu,
        "tps": _tokens_per_second(out),
    }


def measure(kind: str, reps: int, scratch: Path, run_args: dict) -> dict:
    result: dict[str, list[dict]] = {"queued": [], "task": [], "bare": []}
    for rep in range(reps):
        # Rotate the order, so a burst of outside load does not always hit the same way.
        order = ["queued", "task", "bare"][rep % 3 :] + ["queued", "task", "bare"][: rep % 3]
        for way in order:
            if way == "queued":
                result["queued"].append(queued_run(kind, run_args))
            elif way == "task":
                result["task"].append(task_run(kind, run_args))
            else:
                spec_from = Path((result["task"] or result["queued"] or [None])[-1]["run"].out_dir)
                result["bare"].append(bare_run(spec_from, scratch, f"{kind}-bare-{rep}"))
        print(
            f"  {kind} rep {rep + 1}: wall queued {result['queued'][-1]['wall']:.1f} s, "
            f"task {result['task'][-1]['wall']:.1f} s, bare {result['bare'][-1]['wall']:.1f} s; "
            f"cpu task {result['task'][-1]['supervising_cpu']:.2f} + "
            f"{result['task'][-1]['engine_cpu']:.1f} s, bare {result['bare'][-1]['engine_cpu']:.1f} s",
            flush=True,
        )
    return result


def report(kind: str, result: dict) -> None:
    median = statistics.median

    def stat(way: str, key: str, how=median) -> float:
        return how(r[key] for r in result[way])

    queued_wall, bare_wall = stat("queued", "wall"), stat("bare", "wall")
    supervising, task_engine = stat("task", "supervising_cpu"), stat("task", "engine_cpu")
    bare_engine = stat("bare", "engine_cpu")
    print(f"{kind}:")
    print(
        f"  wall (median): queued {queued_wall:6.1f} s  task {stat('task', 'wall'):6.1f} s  "
        f"bare {bare_wall:6.1f} s  ratio queued/bare {queued_wall / bare_wall:.3f}"
    )
    print(
        f"  wall (min):    queued {stat('queued', 'wall', min):6.1f} s  "
        f"task {stat('task', 'wall', min):6.1f} s  bare {stat('bare', 'wall', min):6.1f} s  "
        f"ratio queued/bare {stat('queued', 'wall', min) / stat('bare', 'wall', min):.3f}"
    )
    print(
        f"  cpu (median):  platform supervising {supervising:.2f} s + engine {task_engine:.1f} s"
        f"  bare engine {bare_engine:.1f} s  ratio {(supervising + task_engine) / bare_engine:.3f}"
        " (target <= 1.10)"
    )
    print(
        f"  train tokens/s (median): queued {stat('queued', 'tps'):.0f}  "
        f"task {stat('task', 'tps'):.0f}  bare {stat('bare', 'tps'):.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="Tiny model directory (default: build one).")
    parser.add_argument("--rows", type=int, default=200, help="Preference rows (default 200).")
    parser.add_argument("--rm-steps", type=int, default=30)
    parser.add_argument("--dpo-steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads in every engine child (OMP_NUM_THREADS); 0 keeps torch's default. On "
        "a machine shared with other work, 1 keeps OpenMP threads from spin-waiting on each "
        "other, which makes both CPU and wall times far steadier.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory.")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)

    scratch = Path(tempfile.mkdtemp(prefix="ps-bench-train-"))
    env = _django(scratch / "db.sqlite3", scratch / "data")
    from training.models import ModelKind, ModelVersion

    model = _tiny_model(args.model, scratch)
    tiny = ModelVersion.objects.create(name="tiny", kind=ModelKind.POLICY, base_model=str(model))
    snapshot = _snapshot(_rows(args.rows), scratch / "data")
    common = {"per_device_train_batch_size": 8, "max_length": 128, "save_steps": 1000}
    print(f"scratch: {scratch}\nstarting the qcluster (not timed)...", flush=True)
    cluster = Cluster(env, scratch / "qcluster.log")
    try:
        rm_args = {
            "base": tiny,
            "snapshot": snapshot,
            "hyperparameters": {**common, "max_steps": args.rm_steps},
        }
        rm = measure("reward_model", args.reps, scratch, rm_args)
        dpo_args = {
            "base": tiny,
            "snapshot": snapshot,
            "hyperparameters": {
                **common,
                "max_steps": args.dpo_steps,
                "per_device_train_batch_size": 4,
            },
            "reward_model": rm["task"][0]["run"].produced_version,
        }
        dpo = measure("dpo", args.reps, scratch, dpo_args)
    finally:
        cluster.stop()
    print()
    report("reward model", rm)
    report("DPO", dpo)
    if not args.keep:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
