"""The engine child process: its command line, start, liveness, stop, and what it wrote.

Nothing here knows about models or the database. The child runs in a session of its own, so
stopping it reaches every process it started (`accelerate launch` spawns one per GPU), and on
Linux it is killed when the process that launched it dies, so a SIGKILLed worker never leaves a
trainer running that nobody watches.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.conf import settings

from training.engine.jobs import EVENTS_FILE, Event, request_cancel

ENGINE_MODULE = "training.engine.cli"
CHILD_LOG = "child.log"
SPEC_FILE = "job.json"
_PR_SET_PDEATHSIG = 1


def engine_module() -> str:
    """The module run as the engine; PS_ENGINE_MODULE swaps it (tests use a fake engine)."""
    return os.environ.get("PS_ENGINE_MODULE") or ENGINE_MODULE


def accelerate_config_for(job_value: str = "") -> str:
    """The job's own accelerate config, else the ACCELERATE_CONFIG setting or variable."""
    return (
        job_value
        or getattr(settings, "ACCELERATE_CONFIG", "")
        or os.environ.get("ACCELERATE_CONFIG", "")
    )


def engine_command(spec_path: Path, *, accelerate_config: str = "") -> list[str]:
    module = engine_module()
    if accelerate_config:
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            accelerate_config,
            "-m",
            module,
            str(spec_path),
        ]
    return [sys.executable, "-m", module, str(spec_path)]


def _die_with_parent(parent_pid: int) -> None:  # pragma: no cover - runs in the child
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def launch(
    command: list[str], *, out_dir: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start `command` in its own session, stdout and stderr appended to out_dir/child.log;
    `env` adds to this process's environment."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    preexec = partial(_die_with_parent, os.getpid()) if sys.platform.startswith("linux") else None
    with (out_dir / CHILD_LOG).open("ab") as log:
        return subprocess.Popen(
            command,
            cwd=str(settings.BASE_DIR),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,  # noqa: PLW1509 - only prctl, before exec
        )


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int | None, sig: int = signal.SIGKILL) -> bool:
    """Signal every process left in the child's session; False when none was left."""
    if not pgid:
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop(process: subprocess.Popen, *, grace: float) -> int:
    """SIGTERM to the child's group, SIGKILL after `grace` seconds; returns its exit code.

    The engine answers SIGTERM by saving a checkpoint at the end of the current step and exiting
    with a "cancelled" event, so a cancelled run can be resumed from where it stopped.
    """
    kill_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        kill_group(process.pid, signal.SIGKILL)
        process.wait()
    kill_group(process.pid, signal.SIGKILL)  # grandchildren that outlived the leader
    return process.returncode


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (the out-of-memory killer or a manual kill)" if name == "SIGKILL" else ""
        return f"The engine process was killed by {name}{hint}."
    return f"The engine process exited with code {returncode}."


def read_events(path: Path, offset: int) -> tuple[list[Event], int, list[str]]:
    """Complete lines after byte `offset`: (events, new offset, unreadable lines).

    Like training.engine.jobs.read_events, but a malformed line is reported, not raised, and a
    file shorter than `offset` (recreated by the engine) is read again from its start.
    """
    if not path.exists():
        return [], offset, []
    if path.stat().st_size < offset:
        offset = 0
    with path.open("rb") as fh:
        fh.seek(offset)
        chunk = fh.read()
    end = chunk.rfind(b"\n") + 1
    events, bad = [], []
    for line in chunk[:end].decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            events.append(Event.from_line(line))
        except (ValueError, KeyError, TypeError):
            bad.append(line[:200])
    return events, offset + end, bad


def render_line(line: str) -> str:
    """A child.log line for people: event JSON becomes "step 3/10 loss=0.69"."""
    if not line.startswith("{"):
        return line
    try:
        raw = json.loads(line)
    except ValueError:
        return line
    if not isinstance(raw, dict) or "event" not in raw:
        return line
    name = raw.pop("event")
    raw.pop("time", None)
    if name == "log" or name == "eval":
        metrics = " ".join(f"{k}={_fmt(v)}" for k, v in sorted(raw.get("metrics", {}).items()))
        total = f"/{raw['total_steps']}" if raw.get("total_steps") else ""
        return f"[{name}] step {raw.get('step', '?')}{total} {metrics}".rstrip()
    if name in ("error", "warning"):
        return f"[{name}] {raw.get('message', '')}"
    return f"[{name}] " + " ".join(f"{k}={_fmt(v)}" for k, v in sorted(raw.items()))


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)


def log_tail(out_dir: Path, *, lines: int = 60, max_bytes: int = 32_768) -> str:
    path = out_dir / CHILD_LOG
    if not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - max_bytes))
        text = fh.read().decode("utf-8", errors="replace")
    kept = text.splitlines()[-lines:]
    return "\n".join(render_line(line) for line in kept)


@dataclass
class ChildExit:
    returncode: int
    cancelled: bool = False
    superseded: bool = False


# tick(events, offset, bad_lines) -> "continue" | "cancel" | "superseded"
Tick = Callable[[list[Event], int, list[str]], str]


def supervise(
    process: subprocess.Popen,
    *,
    out_dir: Path,
    offset: int,
    tick: Tick,
    interval: float = 1.0,
    grace: float = 10.0,
) -> ChildExit:
    """Tail the child's events into `tick` until it exits or `tick` asks to stop it."""
    events_path = out_dir / EVENTS_FILE
    while True:
        try:
            process.wait(timeout=interval)
        except subprocess.TimeoutExpired:
            pass
        events, offset, bad = read_events(events_path, offset)
        verdict = tick(events, offset, bad)
        if process.returncode is not None:
            return ChildExit(process.returncode)
        if verdict in ("cancel", "superseded"):
            request_cancel(out_dir)  # the engine checkpoints and exits at the end of its step
            code = stop(process, grace=grace)
            events, offset, bad = read_events(events_path, offset)
            if verdict == "cancel":
                tick(events, offset, bad)
            return ChildExit(code, cancelled=verdict == "cancel", superseded=verdict != "cancel")
