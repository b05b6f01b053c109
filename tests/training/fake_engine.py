"""A stand-in for `python -m training.engine.cli JOB.json` that speaks the same contract.

It trains nothing: it writes events.jsonl the way the engine does (start, log, checkpoint, eval,
done / error / cancelled) at a pace the test chooses, so the platform's launcher, tailer, cancel
and sweep are tested in seconds. Its behaviour comes from `fake_engine.json` in the model
directory (so the platform's hyperparameter checks stay those of the real engine):

- steps (5), sleep (0.05 s per step), checkpoint_every (2)
- fail_at: at that step write an "error" event and exit 1 (fail_once: the first attempt only)
- crash_at: at that step print a traceback to stderr and exit 3, with no "error" event
- ignore_sigterm: ignore SIGTERM and the cancel file, so only SIGKILL stops it
- metrics: the "done" event's metrics (defaults per kind)

Like the engine, a cancel file in out_dir or SIGTERM makes it write a "cancelled" event and exit
with EXIT_CANCELLED; a resumed job starts after the highest checkpoints/step-N directory.
Generation writes one row per completion ({"prompt_id", "prompt", "completion"}) as the data file,
each completion starting with `answer_prefix` (so two fake models answer differently). Rejection
sampling writes best-of-K SFT rows and best-vs-worst pairs for every prompt (`pairs_for`: how many
prompts get a pair, default all).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from training.engine.jobs import CANCEL_FILE, EventWriter, JobSpec

EXIT_CANCELLED = 3
DONE_METRICS = {
    "reward_model": {"train_loss": 0.4, "train_tokens_per_second": 1000.0},
    "sft": {"train_loss": 1.2},
    "dpo": {"train_loss": 0.6},
    "evaluate_reward_model": {"accuracy": 0.95, "margin": 1.5, "eval_rows": 4},
    "evaluate_policy": {"win_rate": 0.62, "kl": 0.8, "mean_length": 21.0},
}
FAKE_FILE = "fake_engine.json"

signalled = False


def _on_sigterm(signum, frame) -> None:
    global signalled
    signalled = True


def behaviour(spec: JobSpec) -> dict:
    path = Path(spec.model.path) / FAKE_FILE if spec.model else None
    return json.loads(path.read_text()) if path and path.is_file() else {}


def main(argv: list[str]) -> int:
    spec = JobSpec.from_json(Path(argv[1]).read_text(encoding="utf-8"))
    fake = behaviour(spec)
    out = Path(spec.out_dir)
    emit = EventWriter(out)
    signal.signal(signal.SIGTERM, signal.SIG_IGN if fake.get("ignore_sigterm") else _on_sigterm)
    if spec.kind == "generate":
        return generate(spec, emit, fake)
    if spec.kind == "rejection_sampling":
        return rejection_sampling(spec, emit, fake)
    if spec.reward_judge is not None:  # what a judge-rewarded child received, for the tests
        key = os.environ.get(spec.reward_judge.api_key_env, "")
        (out / "reward_judge_env.txt").write_text(key, encoding="utf-8")
    steps = int(fake.get("steps", 5))
    start = last_checkpoint(out) if spec.resume else 0
    emit("start", kind=spec.kind, total_steps=steps, step=start)
    print(f"fake engine: {spec.kind} from step {start}", file=sys.stderr, flush=True)
    for step in range(start + 1, steps + 1):
        time.sleep(float(fake.get("sleep", 0.05)))
        if step == fake.get("fail_at") and not _failed_before(out, fake):
            emit("error", message=f"fake failure at step {step}: the loss became NaN")
            return 1
        if step == fake.get("crash_at"):
            print("Traceback (most recent call last):\nRuntimeError: fake crash", file=sys.stderr)
            return 3
        emit("log", step=step, total_steps=steps, metrics={"loss": 1.0 / step, "lr": 1e-4})
        every = int(fake.get("checkpoint_every", 2))
        if every and step % every == 0:
            path = out / "checkpoints" / f"step-{step}"
            path.mkdir(parents=True, exist_ok=True)
            emit("checkpoint", step=step, path=str(path))
        if not fake.get("ignore_sigterm") and (signalled or (out / CANCEL_FILE).exists()):
            path = out / "checkpoints" / f"step-{step}"
            path.mkdir(parents=True, exist_ok=True)
            emit("cancelled", step=step, checkpoint=str(path))
            return EXIT_CANCELLED
    emit("eval", step=steps, metrics={"eval_loss": 0.5})
    model_dir = out / "model"
    model_dir.mkdir(exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps({"hidden_size": 64}), encoding="utf-8")
    metrics = fake.get("metrics") or DONE_METRICS.get(spec.kind, {})
    outputs = {} if spec.kind.startswith("evaluate") else {"model_dir": str(model_dir)}
    emit("done", outputs=outputs, metrics=metrics)
    return 0


def _failed_before(out: Path, fake: dict) -> bool:
    """With fail_once, only the first attempt fails (a resumed one gets through)."""
    marker = out / "failed-once"
    if not fake.get("fail_once"):
        return False
    if marker.exists():
        return True
    marker.touch()
    return False


def last_checkpoint(out: Path) -> int:
    steps = [int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("step-*")]
    return max(steps, default=0)


def generate(spec: JobSpec, emit: EventWriter, fake: dict) -> int:
    rows = [json.loads(line) for line in Path(spec.train_file).read_text().splitlines() if line]
    k = int(spec.hyperparameters.get("num_return_sequences", 2))
    emit("start", kind="generate", total_steps=len(rows), step=0)
    data_file = Path(spec.out_dir) / "generated.jsonl"
    with data_file.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows, start=1):
            question = row["prompt"][-1]["content"]
            for j in range(k):
                completion = f"{fake.get('answer_prefix', '')}Fake answer {j} to: {question}"
                fh.write(json.dumps({**row, "completion": completion, "sample": j}) + "\n")
            emit("log", step=i, total_steps=len(rows), metrics={"tokens_per_second": 100.0})
    emit("done", outputs={"data_file": str(data_file)}, metrics={"prompts": len(rows)})
    return 0


def rejection_sampling(spec: JobSpec, emit: EventWriter, fake: dict) -> int:
    rows = [json.loads(line) for line in Path(spec.train_file).read_text().splitlines() if line]
    k = int(spec.hyperparameters.get("num_return_sequences", 4))
    emit("start", kind="rejection_sampling", total_steps=2, step=0)
    out = Path(spec.out_dir)
    best, pairs = [], []
    for i, row in enumerate(rows):
        good = [{"role": "assistant", "content": f"Best of {k} for row {i}, thank you!"}]
        bad = [{"role": "assistant", "content": f"Worst of {k} for row {i}."}]
        best.append({**row, "completion": good, "score": 2.0})
        if i < int(fake.get("pairs_for", len(rows))):
            pairs.append({**row, "chosen": good, "rejected": bad, "margin": 3.0})
    sft_file, pairs_file = out / "best_of_k_sft.jsonl", out / "best_of_k_pairs.jsonl"
    sft_file.write_text("".join(json.dumps(r) + "\n" for r in best), encoding="utf-8")
    pairs_file.write_text("".join(json.dumps(r) + "\n" for r in pairs), encoding="utf-8")
    metrics = {"prompts": len(rows), "samples": len(rows) * k, "pairs": len(pairs)}
    emit("log", step=2, total_steps=2, metrics=metrics)
    outputs = {"data_file": str(sft_file), "preference_file": str(pairs_file)}
    emit("done", outputs=outputs, metrics=metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
