"""requirements/lock.txt: the environment the tests run in is exactly the lock, the lock agrees
with pyproject.toml, and scripts/check_lock.py, which scripts/test runs first, catches drift."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
sys.path.insert(0, str(ROOT / "scripts"))
import check_lock  # noqa: E402

LOCKED_PLATFORM = (
    sys.version_info[:2] == (3, 11) and sys.platform == "linux" and platform.machine() == "x86_64"
)


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_lock.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(
    not LOCKED_PLATFORM or bool(os.environ.get("PS_UNLOCKED")),
    reason="the lock is for CPython 3.11 on Linux x86_64, and PS_UNLOCKED installs without it",
)
def test_the_installed_versions_are_the_locked_ones():
    result = _check()
    assert result.returncode == 0, result.stderr
    assert "packages at their locked versions" in result.stdout


def test_the_lock_pins_every_dependency_of_pyproject_within_its_range():
    pins = check_lock.read_lock(LOCK)
    requirements = check_lock.pyproject_requirements(ROOT / "pyproject.toml")
    assert check_lock.stale_pins(pins, requirements) == []
    for key in ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "django"):
        assert key in pins


def test_every_pin_carries_a_hash_so_pip_checks_what_it_downloads():
    text = LOCK.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    pinned = [b for b in blocks if check_lock.PIN.match(b)]
    assert len(pinned) == len(check_lock.read_lock(LOCK))
    assert all("--hash=sha256:" in b for b in pinned)


def test_a_package_at_another_version_is_reported_by_name(tmp_path: Path):
    text = LOCK.read_text(encoding="utf-8")
    installed_peft = check_lock.read_lock(LOCK)["peft"]
    lock = tmp_path / "lock.txt"
    other = f"{installed_peft}.post9"  # within pyproject's range, not what is installed
    lock.write_text(text.replace(f"peft=={installed_peft}", f"peft=={other}"), encoding="utf-8")
    result = _check("--lock", str(lock))
    assert result.returncode == 1
    assert f"peft: locked {other}, installed {installed_peft}" in result.stderr
    assert "(1 of " in result.stderr


def test_a_lock_left_behind_by_an_edit_of_pyproject_is_refused(tmp_path: Path):
    pyproject = tmp_path / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pyproject.write_text(
        text.replace('"trl>=', '"no-such-package>=1", "trl>=99, <100", "x>=', 1), encoding="utf-8"
    )
    result = _check("--pyproject", str(pyproject))
    assert result.returncode == 1
    assert "no-such-package>=1: in pyproject.toml, not in the lock" in result.stderr
    assert re.search(
        r"trl\S*99\S*: the lock pins \S+, outside pyproject.toml's range", result.stderr
    )


def test_a_file_without_pins_is_not_taken_for_a_lock(tmp_path: Path):
    empty = tmp_path / "lock.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    result = _check("--lock", str(empty))
    assert result.returncode == 1 and "not a lock file" in result.stderr
