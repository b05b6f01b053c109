"""The engine as the platform runs it: `python -m training.engine.cli job.json` in a child process;
checkpoints, cancel and resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.training.engine.conftest import (
    DPO_FAST,
    REPO,
    RM_FAST,
    SFT_FAST,
    Outcome,
    run_cli,
    run_engine,
    spec_for,
)
from training.engine.jobs import (
    EVENTS_FILE,
    EXIT_CANCELLED,
    EXIT_FAILED,
    JobSpec,
    ModelRef,
    clear_cancel,
    read_events,
    request_cancel,
)

TWO_STEPS = {"max_steps": 2}


def cli_specs(tmp_path: Path, base: ModelRef, rm: ModelRef, data: Path) -> dict[str, JobSpec]:
    pref, held = str(data / "pref_small.jsonl"), str(data / "pref_heldout.jsonl")
    prompts = str(data / "prompts_heldout.jsonl")
    return {
        "reward_model": spec_for(
            "reward_model",
            tmp_path,
            base,
            train_file=pref,
            hyperparameters={**RM_FAST, **TWO_STEPS},
        ),
        "sft": spec_for(
            "sft",
            tmp_path,
            base,
            train_file=str(data / "sft_small.jsonl"),
            hyperparameters={**SFT_FAST, **TWO_STEPS},
        ),
        "dpo": spec_for(
            "dpo",
            tmp_path,
            base,
            reference=base,
            train_file=pref,
            hyperparameters={**DPO_FAST, **TWO_STEPS},
        ),
        "generate": spec_for(
            "generate",
            tmp_path,
            base,
            train_file=prompts,
            hyperparameters={"num_return_sequences": 2, "max_new_tokens": 8, "batch_size": 25},
        ),
        "evaluate_reward_model": spec_for("evaluate_reward_model", tmp_path, rm, eval_file=held),
        "evaluate_policy": spec_for(
            "evaluate_policy",
            tmp_path,
            base,
            reference=base,
            reward_model=rm,
            eval_file=prompts,
            hyperparameters={"max_prompts": 4, "samples_per_prompt": 1, "max_new_tokens": 8},
        ),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    ["reward_model", "sft", "dpo", "generate", "evaluate_reward_model", "evaluate_policy"],
)
def test_every_kind_runs_as_a_child_process(
    tmp_path: Path, base, trained_rm, data_dir, kind: str
) -> None:
    spec = cli_specs(tmp_path, base, trained_rm[0], data_dir)[kind]
    outcome, process = run_cli(spec)
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-2000:]
    assert outcome.names[0] == "start" and outcome.names[-1] == "done"
    # stdout echoes the events, one JSON object per line, for the child's log
    assert '"event": "done"' in process.stdout
    done = outcome.done
    if kind in ("reward_model", "sft", "dpo"):
        assert outcome.logged("loss") and Path(done["outputs"]["model_dir"]).is_dir()
    if kind in ("generate", "evaluate_policy"):
        assert Path(done["outputs"]["data_file"]).is_file()
    assert done["metrics"]


def test_a_bad_config_exits_non_zero_with_its_reason(tmp_path: Path, data_dir) -> None:
    spec = spec_for(
        "reward_model",
        tmp_path,
        ModelRef(path=str(tmp_path / "no-such-model")),
        train_file=str(data_dir / "pref_small.jsonl"),
    )
    outcome, process = run_cli(spec)
    assert process.returncode == EXIT_FAILED
    assert outcome.names == ["error"]
    assert outcome.error == f"The model path {tmp_path / 'no-such-model'} does not exist."
    assert "Traceback" not in process.stderr  # a user error is not a crash


@pytest.mark.parametrize("module", ["training.engine.cli", "training.engine"])
def test_an_unreadable_spec_exits_non_zero(tmp_path: Path, module: str) -> None:
    (tmp_path / "job.json").write_text('{"kind": "dpo"}')
    process = subprocess.run(
        [sys.executable, "-m", module, str(tmp_path / "job.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert process.returncode == EXIT_FAILED
    assert "is not a valid JobSpec" in process.stderr


def test_a_rerun_with_more_steps_continues_from_the_last_checkpoint(
    tmp_path: Path, base, data_dir
) -> None:
    hyper = {**RM_FAST, "max_steps": 4, "save_steps": 2}
    spec = spec_for(
        "reward_model",
        tmp_path,
        base,
        train_file=str(data_dir / "pref_small.jsonl"),
        hyperparameters=hyper,
    )
    first = run_engine(spec)
    assert first.code == 0
    assert [c["step"] for c in first.of("checkpoint")] == [2, 4]

    spec.hyperparameters = {**hyper, "max_steps": 6}
    rerun = run_engine(spec)
    assert rerun.code == 0
    assert rerun.of("start") == [{"kind": "reward_model", "step": 4, "total_steps": 6}]
    assert [e["step"] for e in rerun.of("log") if "loss" in e["metrics"]] == [5, 6]
    assert rerun.done["metrics"]["global_step"] == 6


def start_long_run(tmp_path: Path, base: ModelRef, data_dir: Path) -> tuple[JobSpec, Any]:
    """A 200-step DPO child, returned once it has logged two steps."""
    spec = spec_for(
        "dpo",
        tmp_path,
        base,
        train_file=str(data_dir / "pref_train.jsonl"),
        hyperparameters={**DPO_FAST, "max_steps": 200, "save_steps": 1000},
    )
    path = spec.write(tmp_path / "job.json")
    child = subprocess.Popen(
        [sys.executable, "-m", "training.engine.cli", str(path)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        events, _ = read_events(tmp_path / EVENTS_FILE)
        if any(e.event == "log" and e.data["step"] >= 2 for e in events):
            return spec, child
        if child.poll() is not None:
            raise AssertionError(child.stderr.read())
        time.sleep(0.2)
    child.kill()
    raise AssertionError("the child logged no step in time")


@pytest.mark.slow
def test_sigterm_stops_at_a_checkpoint(tmp_path: Path, base, data_dir) -> None:
    """What the platform sends to cancel a run: the child saves and exits, it is not killed."""
    _, child = start_long_run(tmp_path, base, data_dir)
    try:
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert code == EXIT_CANCELLED
    (cancelled,) = Outcome(code, tmp_path).of("cancelled")
    assert Path(cancelled["checkpoint"], "trainer_state.json").is_file()


@pytest.mark.slow
def test_cancel_checkpoints_and_a_rerun_resumes_there(tmp_path: Path, base, data_dir) -> None:
    spec, child = start_long_run(tmp_path, base, data_dir)
    try:
        request_cancel(tmp_path)
        code = child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert code == EXIT_CANCELLED
    stopped = Outcome(code, tmp_path)  # the first run in this out_dir
    (cancelled,) = stopped.of("cancelled")
    step = cancelled["step"]
    assert 2 <= step < 200
    assert Path(cancelled["checkpoint"]).is_dir()
    assert "done" not in stopped.names

    clear_cancel(tmp_path)
    spec.hyperparameters = {**spec.hyperparameters, "max_steps": step + 1}
    resumed = run_engine(spec)
    assert resumed.code == 0
    assert resumed.of("start") == [{"kind": "dpo", "step": step, "total_steps": step + 1}]
    assert [e["step"] for e in resumed.of("log") if "loss" in e["metrics"]] == [step + 1]


@pytest.mark.slow
def test_two_processes_train_together_and_write_one_event_stream(
    tmp_path: Path, base, data_dir
) -> None:
    """What `accelerate launch` does on several GPUs, with torchrun and gloo on the CPU."""
    spec = spec_for(
        "dpo",
        tmp_path,
        base,
        train_file=str(data_dir / "pref_small.jsonl"),
        hyperparameters={**DPO_FAST, **TWO_STEPS},
    )
    path = spec.write(tmp_path / "job.json")
    process = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        + ["-m", "training.engine.cli", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    outcome = Outcome(0, tmp_path)
    assert outcome.names.count("start") == 1 and outcome.names.count("done") == 1
    assert [e["step"] for e in outcome.of("log") if "loss" in e["metrics"]] == [1, 2]
