"""The engine as a process: ``python -m training.engine.cli JOB.json``.

Also runs under ``accelerate launch -m training.engine.cli JOB.json``; only the main process
writes events then, the others train silently. The exit code follows training.engine.jobs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from training.engine.jobs import EXIT_FAILED, EXIT_OK, EngineError, EventWriter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.engine.cli", description="Run one engine job from its JSON spec."
    )
    parser.add_argument("spec", type=Path, help="JobSpec JSON file (training.engine.jobs)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from training.engine.runner import TRAINING_KINDS, execute, load_spec

    try:
        spec = load_spec(args.spec)
    except EngineError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    if _is_main_process():
        return execute(spec, EventWriter(Path(spec.out_dir)))
    if spec.kind not in TRAINING_KINDS:
        return EXIT_OK  # generation and evaluation run once, on the main process
    return execute(spec, _silent)


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _silent(event: str, **data: object) -> None:
    pass


if __name__ == "__main__":
    sys.exit(main())
