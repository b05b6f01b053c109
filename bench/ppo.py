"""Step time of the engine's PPO against trl's GRPO at the same batch, generation length and model.

Both train the tiny offline model against a reward model (the tiny model with a fresh scoring head:
the reward's values do not matter for timing). A step is one batch of `--completions`
completions of up to `--tokens` new tokens: PPO samples one per prompt, GRPO `--group` per prompt.
Time per step is read from the jobs' "log" events, after the first step (start-up and warm-up
excluded). PPO runs twice: with its defaults (4 PPO epochs x 2 minibatches: 8 optimizer steps per
batch) and with one epoch of one minibatch, GRPO's default amount of optimisation per batch.

    .venv/bin/python bench/ppo.py [--steps 6] [--completions 8] [--tokens 16] [--group 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def step_seconds(kind: str, out: Path, model: str, prompts: Path, hyper: dict) -> float:
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
    logs = [e.data for e in events if e.event == "log"]
    first, last = logs[0], logs[-1]
    return (last["elapsed_s"] - first["elapsed_s"]) / (last["step"] - first["step"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--completions", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--group", type=int, default=4)
    args = parser.parse_args()

    import torch

    from tests.training.engine import synthetic
    from training.engine.tiny import TinyModelConfig, build_tiny_model

    torch.set_num_threads(max(1, torch.get_num_threads()))
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
    grpo = {
        **common,
        "per_device_train_batch_size": args.completions // args.group,
        "num_generations": args.group,
    }
    ppo_s = step_seconds("ppo", root / "ppo", model, prompts, ppo)
    ppo1_s = step_seconds(
        "ppo", root / "ppo1", model, prompts, {**ppo, "num_ppo_epochs": 1, "num_mini_batches": 1}
    )
    grpo_s = step_seconds("grpo", root / "grpo", model, prompts, grpo)
    print(f"tiny model, {args.completions} completions x {args.tokens} new tokens per step")
    print(f"PPO (4 epochs x 2 minibatches): {ppo_s:.3f} s/step  {1 / ppo_s:.2f} steps/s")
    print(f"PPO (1 epoch x 1 minibatch):    {ppo1_s:.3f} s/step  {1 / ppo1_s:.2f} steps/s")
    print(f"trl GRPO:                       {grpo_s:.3f} s/step  {1 / grpo_s:.2f} steps/s")
    print(f"PPO / GRPO step time: {ppo_s / grpo_s:.2f}x (defaults), {ppo1_s / grpo_s:.2f}x (1x1)")


if __name__ == "__main__":
    main()
