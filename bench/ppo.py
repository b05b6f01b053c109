"""Step time of the engine's PPO against trl's GRPO at the same batch, generation length and model.

Both train the tiny offline model against a reward model (the tiny model with a fresh scoring head:
the reward's values do not matter for timing). A step is one batch of `--completions`
completions of up to `--tokens` new tokens: PPO samples one per prompt, GRPO `--group` per prompt.
Time per step is the median of the intervals between the jobs' per-step "log" events, after the
first step (start-up and warm-up excluded); the mean completion length is printed beside it, since
generation time follows it. PPO runs three times: with its defaults (4 PPO epochs x 1 minibatch: 4
optimizer steps per batch, after one no-grad pass for the rollouts' log-probabilities and values
and one through the reference), with 4 epochs x 2 minibatches (the engine's defaults until
num_mini_batches took trl's 1), and with one epoch of one minibatch, GRPO's default amount of
optimisation per batch.

On a shared machine, intra-op threads fighting another process for the cores can slow a step
tenfold: `--threads 1` gives steadier figures, and `--repeats` shows the spread.

    .venv/bin/python bench/ppo.py [--steps 10] [--completions 8] [--tokens 16] [--group 4]
                                  [--threads N] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def step_seconds(
    kind: str, out: Path, model: str, prompts: Path, hyper: dict
) -> tuple[float, float]:
    """(median seconds per step after the first, mean completion length in tokens). The median
    shrugs off a step slowed by another process."""
    from training.engine.jobs import EVENTS_FILE, EventWriter, JobSpec, ModelRef, read_events
    from training.engine.runner import execute

    spec = JobSpec(
        kind=kind,
        out_dir=str(out),
        model=ModelRef(path=model),
        reward_model=ModelRef(path=model),
        train_file=str(prompts),
        hyperparameters=hyper,
    )
    code = execute(spec, EventWriter(out, echo=False))
    events, _ = read_events(out / EVENTS_FILE)
    if code != 0:
        raise SystemExit(f"{kind} failed: {[e.data for e in events if e.event == 'error']}")
    # per-step logs only: trl's end-of-training summary is a "log" event too
    logs = [e.data for e in events if e.event == "log" and "reward" in e.data["metrics"]]
    length = [
        m.get("completion_length", m.get("completions/mean_length", 0.0))
        for m in (e["metrics"] for e in logs)
    ]
    steps = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(logs, logs[1:], strict=False)]
    return statistics.median(steps), statistics.mean(length)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--completions", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each job; medians shown")
    args = parser.parse_args()

    import torch

    from tests.training.engine import synthetic
    from training.engine.config import PpoConfig
    from training.engine.tiny import TinyModelConfig, build_tiny_model

    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="bench-ppo-"))
    model = str(build_tiny_model(TinyModelConfig(), out_dir=root / "tiny"))
    prompts = synthetic.write(synthetic.prompt_rows("train"), root / "prompts.jsonl")
    common = {
        "max_steps": args.steps,
        "max_new_tokens": args.tokens,
        "learning_rate": 1e-4,
        "eval_fraction": 0.0,
        "save_steps": 10_000,
    }
    ppo = {**common, "per_device_train_batch_size": args.completions}
    default = PpoConfig()
    jobs = {
        f"PPO (defaults: {default.num_ppo_epochs} epochs x {default.num_mini_batches} minibatch)": (
            "ppo",
            ppo,
        ),
        "PPO (4 epochs x 2 minibatches)": (
            "ppo",
            {**ppo, "num_ppo_epochs": 4, "num_mini_batches": 2},
        ),
        "PPO (1 epoch x 1 minibatch)": ("ppo", {**ppo, "num_ppo_epochs": 1, "num_mini_batches": 1}),
        "trl GRPO": (
            "grpo",
            {
                **common,
                "per_device_train_batch_size": args.completions // args.group,
                "num_generations": args.group,
            },
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in jobs}
    lengths: dict[str, list[float]] = {name: [] for name in jobs}
    for repeat in range(args.repeats):
        for number, (name, (kind, hyper)) in enumerate(jobs.items()):
            seconds, length = step_seconds(kind, root / f"{repeat}-{number}", model, prompts, hyper)
            times[name].append(seconds)
            lengths[name].append(length)
    print(
        f"tiny model, {args.completions} completions x {args.tokens} new tokens per step, "
        f"{torch.get_num_threads()} torch thread(s), {args.repeats} run(s) of {args.steps} steps"
    )
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        spread = f"  (runs: {', '.join(f'{s:.3f}' for s in t)})" if len(t) > 1 else ""
        print(
            f"{name:42s} {median[name]:.3f} s/step  {1 / median[name]:5.2f} steps/s  "
            f"mean completion {statistics.mean(lengths[name]):.1f} tokens{spread}"
        )
    ppo_s, ppo42_s, ppo1_s, grpo_s = median.values()
    print(
        f"PPO / GRPO step time: {ppo_s / grpo_s:.2f}x (defaults), {ppo42_s / grpo_s:.2f}x (4x2), "
        f"{ppo1_s / grpo_s:.2f}x (1x1)"
    )
    if args.repeats > 1:
        ratios = [p / g for p, g in zip(times[next(iter(jobs))], times["trl GRPO"], strict=True)]
        print(f"defaults / GRPO per run: {', '.join(f'{r:.2f}x' for r in ratios)}")


if __name__ == "__main__":
    main()
