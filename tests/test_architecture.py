"""Layering rules that keep the engine runnable without Django (import-linter contracts)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "training.engine stays free of Django KEPT" in result.stdout


def test_engine_never_loads_django_and_its_contract_never_loads_torch():
    """No engine module pulls Django in; the modules the web side reads (the job contract and
    configs) do not pull torch in either, so a web process never pays for it."""
    code = (
        "import sys, pkgutil, importlib, training.engine as e\n"
        "import training.engine.jobs, training.engine.config\n"
        "light = 'torch' in sys.modules\n"
        "for m in pkgutil.iter_modules(e.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('training.engine.' + m.name)\n"
        "print('torch' if light else '', 'django' if 'django' in sys.modules else '')\n"
        "sys.exit(1 if light or 'django' in sys.modules else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
