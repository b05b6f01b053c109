"""The contract between the platform and the engine: a job spec in, a stream of events out.

The platform (training/tasks.py) writes a JobSpec as JSON and starts a child process
``python -m training.engine.cli JOB.json`` (or ``accelerate launch -m training.engine.cli JOB.json``
on several GPUs). The child appends one JSON object per line to ``<out_dir>/events.jsonl`` (and
echoes it to stdout) as it goes; the platform tails that file to update the run's progress,
metrics and logs. Exit code 0 means a "done" event was written; anything else is a failure whose
reason is the last "error" event (or the process's stderr when it was killed). A job stopped on
request (the cancel file, SIGTERM or SIGINT) saves a checkpoint, writes a "cancelled" event and
exits with EXIT_CANCELLED; rerunning the same spec resumes from that checkpoint.

Nothing here imports Django or torch.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

JobKind = Literal[
    "reward_model",  # trl RewardTrainer -> sequence-classification model
    "sft",  # trl SFTTrainer, loss on completions only
    "dpo",  # trl DPOTrainer
    "ppo",  # the engine's own PPO (trl 1.x has none)
    "grpo",  # trl GRPOTrainer with a reward model as reward function
    "rloo",  # trl RLOOTrainer with a reward model as reward function
    "generate",  # K completions per prompt from a policy
    "evaluate_reward_model",  # held-out accuracy and margin
    "evaluate_policy",  # win rate vs parent by a reward model, KL to parent, length
    "rejection_sampling",  # best-of-K by a reward model -> SFT rows and preference pairs
]
Method = Literal["full", "lora", "qlora", "prompt_tuning", "prefix_tuning", "ia3"]

EVENTS_FILE = "events.jsonl"
CANCEL_FILE = "cancel"
"""Its presence in out_dir asks a training job to checkpoint and stop at the next step end. The
engine never deletes it: whoever relaunches a cancelled job removes it first (`clear_cancel`)."""

EXIT_OK = 0
EXIT_FAILED = 1
"""An "error" event says why."""
EXIT_CANCELLED = 3
"""A "cancelled" event says at which step and checkpoint."""


class EngineError(Exception):
    """A problem the user can act on (bad config, missing file, empty dataset): its message is
    shown as it is, on the run page, without a traceback."""


class JobCancelled(Exception):
    """Training stopped on request after saving a checkpoint."""

    def __init__(self, step: int, checkpoint: str | None) -> None:
        super().__init__(f"Cancelled at step {step}.")
        self.step = step
        self.checkpoint = checkpoint


def request_cancel(out_dir: Path) -> Path:
    path = Path(out_dir) / CANCEL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def clear_cancel(out_dir: Path) -> None:
    (Path(out_dir) / CANCEL_FILE).unlink(missing_ok=True)


@dataclass
class ModelRef:
    """A model to load: a local directory or hub id, optionally with a PEFT adapter on top."""

    path: str
    adapter_path: str | None = None


CONVERSATION_SLOT = "\u27e6conversation\u27e7"
RESPONSE_SLOT = "\u27e6response\u27e7"


@dataclass
class JudgeRef:
    """An AI judge on an OpenAI-compatible endpoint that scores each completion (RLAIF): the
    reward is its score, scaled from [score_min, score_max] to [-1, 1].

    `prompt` is the judge's single-score prompt, already rendered by the platform with its rubric
    or constitution; the engine puts each conversation and completion where CONVERSATION_SLOT and
    RESPONSE_SLOT stand. The API key never enters the job file: the engine reads it from the
    environment variable `api_key_env`.
    """

    base_url: str
    model: str
    prompt: str
    system: str = ""
    api_key_env: str = "PS_REWARD_JUDGE_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 16
    score_min: float = 1.0
    score_max: float = 10.0
    concurrency: int = 8
    timeout_seconds: float = 60.0
    max_retries: int = 4


@dataclass
class JobSpec:
    kind: JobKind
    out_dir: str
    model: ModelRef | None = None
    """The model trained (policy or reward-model base) or used (generation, evaluation)."""
    reference: ModelRef | None = None
    """Parent / reference policy (DPO reference, PPO KL anchor, win-rate and KL baseline)."""
    reward_model: ModelRef | None = None
    """Scores completions (PPO / GRPO / RLOO rewards, policy evaluation, rejection sampling)."""
    reward_judge: JudgeRef | None = None
    """Instead of reward_model, an AI judge scores the completions of PPO / GRPO / RLOO."""
    train_file: str | None = None
    """JSONL in trl's formats (preference / sft / prompt-only), as exported by a DatasetSnapshot."""
    eval_file: str | None = None
    """Held-out JSONL; when absent the engine splits `eval_fraction` off train_file."""
    method: Method = "full"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """Overrides of the kind's config dataclass fields (learning_rate, num_train_epochs, beta...)."""
    resume: bool = True
    """Continue from the last checkpoint in out_dir when there is one."""
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        raw = json.loads(text)
        for key in ("model", "reference", "reward_model"):
            if raw.get(key) is not None:
                raw[key] = ModelRef(**raw[key])
        if raw.get("reward_judge") is not None:
            raw["reward_judge"] = JudgeRef(**raw["reward_judge"])
        return cls(**raw)

    def write(self, path: Path) -> Path:
        path.write_text(self.to_json(), encoding="utf-8")
        return path


EventName = Literal["start", "log", "eval", "checkpoint", "warning", "done", "error", "cancelled"]


@dataclass
class Event:
    """One line of events.jsonl.

    - start: {"total_steps": int, "step": int (> 0 when resumed), "kind": str}
    - log: {"step": int, "total_steps": int, "metrics": {name: float},
            "elapsed_s": float, "eta_s": float | None}   (loss, reward, kl, ...)
    - eval: {"step": int, "metrics": {...}}   (names without trl's "eval_" prefix)
    - checkpoint: {"step": int, "path": str}
    - warning: {"message": str}   (e.g. reward hacking: win rate up while KL explodes)
    - done: {"outputs": {"model_dir"?, "adapter_dir"?, "data_file"?, "preference_file"?,
                         "eval_file"?},
             "metrics": {...}}
      model_dir is the weights to load (a full model, or the base an adapter sits on when the
      job had to merge its starting adapter); adapter_dir a PEFT adapter on top of model_dir,
      or of the job's model.path when there is no model_dir.
    - error: {"message": str}     (a clear, user-facing reason: bad config, empty dataset...)
    - cancelled: {"step": int, "checkpoint": str | None}
    """

    event: EventName
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_line(self) -> str:
        return json.dumps({"event": self.event, "time": self.time, **self.data}, sort_keys=True)

    @classmethod
    def from_line(cls, line: str) -> Event:
        raw = json.loads(line)
        name = raw.pop("event")
        stamp = raw.pop("time", time.time())
        return cls(event=name, data=raw, time=stamp)


class EventWriter:
    """Appends events to out_dir/events.jsonl, flushed per line so a tailing reader sees them."""

    def __init__(self, out_dir: Path, echo: bool = True) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / EVENTS_FILE
        self.echo = echo

    def __call__(self, event: str, **data: Any) -> None:
        line = Event(event=event, data=data).to_line()  # type: ignore[arg-type]
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if self.echo:
            print(line, flush=True)


def read_events(path: Path, offset: int = 0) -> tuple[list[Event], int]:
    """Complete lines written since byte `offset`; returns them and the new offset."""
    if not path.exists():
        return [], offset
    with path.open("rb") as fh:
        fh.seek(offset)
        chunk = fh.read()
    end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next read
    events = [Event.from_line(line) for line in chunk[:end].decode("utf-8").splitlines() if line]
    return events, offset + end
