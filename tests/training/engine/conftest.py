"""Engine test helpers: synthetic data files, a job runner that returns its events, shared models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.training.engine import synthetic
from training.engine.jobs import EVENTS_FILE, Event, EventWriter, JobSpec, ModelRef, read_events

REPO = Path(__file__).resolve().parents[3]

# Few steps, short sequences, tiny batches: every training test stays cheap on a CPU.
FAST = {
    "max_steps": 3,
    "per_device_train_batch_size": 4,
    "per_device_eval_batch_size": 16,
    "max_length": 96,
    "logging_steps": 1,
    "save_steps": 50,
}
RM_FAST = {**FAST, "learning_rate": 1e-3}
SFT_FAST = {**FAST, "learning_rate": 1e-3}
DPO_FAST = {**FAST, "learning_rate": 5e-4}


class Outcome:
    """What a run left behind: its exit code and the events it appended to events.jsonl (a
    rerun in the same out_dir starts reading where the previous run stopped)."""

    def __init__(self, code: int, out_dir: Path, offset: int = 0) -> None:
        self.code = code
        self.out_dir = out_dir
        self.events: list[Event] = read_events(out_dir / EVENTS_FILE, offset)[0]

    def of(self, name: str) -> list[dict]:
        return [e.data for e in self.events if e.event == name]

    @property
    def names(self) -> list[str]:
        return [e.event for e in self.events]

    @property
    def done(self) -> dict:
        (done,) = self.of("done")
        return done

    @property
    def error(self) -> str:
        return self.of("error")[-1]["message"]

    def logged(self, metric: str) -> list[float]:
        return [e["metrics"][metric] for e in self.of("log") if metric in e["metrics"]]


def run_engine(spec: JobSpec) -> Outcome:
    """The job through runner.execute, in this process (as a library caller runs it)."""
    from training.engine.runner import execute

    out_dir = Path(spec.out_dir)
    offset = events_size(out_dir)
    code = execute(spec, EventWriter(out_dir, echo=False))
    return Outcome(code, out_dir, offset)


def events_size(out_dir: Path) -> int:
    path = Path(out_dir) / EVENTS_FILE
    return path.stat().st_size if path.exists() else 0


def run_cli(spec: JobSpec, timeout: float = 600) -> tuple[Outcome, subprocess.CompletedProcess]:
    """The job as the platform runs it: `python -m training.engine.cli job.json` in a child."""
    out_dir = Path(spec.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = spec.write(out_dir / "job.json")
    offset = events_size(out_dir)
    process = subprocess.run(
        [sys.executable, "-m", "training.engine.cli", str(path)],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Outcome(process.returncode, out_dir, offset), process


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Synthetic polite-vs-rude data in every format the engine reads."""
    root = tmp_path_factory.mktemp("engine-data")
    synthetic.write(
        synthetic.preference_rows("train") + synthetic.corpus_rows("train"),
        root / "pref_train.jsonl",
    )
    synthetic.write(
        synthetic.preference_rows("heldout") + synthetic.corpus_rows("heldout"),
        root / "pref_heldout.jsonl",
    )
    synthetic.write(synthetic.preference_rows("train", n=24), root / "pref_small.jsonl")
    synthetic.write(
        synthetic.preference_rows("train", n=24, conversational=False), root / "pref_std.jsonl"
    )
    synthetic.write(synthetic.sft_rows("train", n=24), root / "sft_small.jsonl")
    synthetic.write(synthetic.prompt_rows("heldout"), root / "prompts_heldout.jsonl")
    return root


@pytest.fixture(scope="session")
def base(tiny_model_dir: Path) -> ModelRef:
    return ModelRef(path=str(tiny_model_dir))


@pytest.fixture(scope="session")
def trained_rm(tmp_path_factory, base: ModelRef, data_dir: Path) -> tuple[ModelRef, Outcome]:
    """A reward model trained for 16 steps on the synthetic preference (held-out acc ~1.0)."""
    out = tmp_path_factory.mktemp("rm")
    outcome = run_engine(
        JobSpec(
            kind="reward_model",
            out_dir=str(out),
            model=base,
            train_file=str(data_dir / "pref_train.jsonl"),
            eval_file=str(data_dir / "pref_heldout.jsonl"),
            hyperparameters={**RM_FAST, "max_steps": 16, "per_device_train_batch_size": 8},
        )
    )
    assert outcome.code == 0, outcome.names
    return ModelRef(path=outcome.done["outputs"]["model_dir"]), outcome


def spec_for(kind: str, out_dir: Path, base: ModelRef, **fields) -> JobSpec:
    return replace(JobSpec(kind=kind, out_dir=str(out_dir), model=base), **fields)


def jsonl(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def held_out_gain(
    kind: str,
    out_dir: Path,
    base: ModelRef,
    rm: ModelRef,
    data_dir: Path,
    prompts: Path,
    hyper: dict,
) -> tuple[dict, dict, Outcome]:
    """An online RL job (ppo, grpo, rloo) on `prompts`, evaluated on the held-out prompts:
    (metrics of its first eval event, of its last, the outcome)."""
    outcome = run_engine(
        spec_for(
            kind,
            out_dir,
            base,
            reward_model=rm,
            train_file=str(prompts),
            eval_file=str(data_dir / "prompts_heldout.jsonl"),
            hyperparameters=hyper,
        )
    )
    assert outcome.code == 0, outcome.of("error")
    evals = outcome.of("eval")
    print(f"{kind} held-out before:", evals[0]["metrics"], "after:", evals[-1]["metrics"])
    print(f"{kind} train reward by step:", [round(r, 2) for r in outcome.logged("reward")])
    return evals[0]["metrics"], evals[-1]["metrics"], outcome
