"""Compare what a Python environment has installed with requirements/lock.txt.

    .venv/bin/python scripts/check_lock.py [--lock requirements/lock.txt]

Prints each locked package that is missing or at another version and exits 1 when there is any,
so a machine never runs the tests on a set CI did not test. Also checks that every dependency
pyproject.toml names is in the lock at a version its range allows (a lock left behind after an
edit of pyproject.toml). Standard library only, and `packaging`, which the lock holds.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def read_lock(path: Path) -> dict[str, str]:
    """{canonical name: version} of every `name==version` line of a pip-compile lock."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            if name in pins:
                raise SystemExit(f"{path}:{number}: {name} is pinned twice")
            pins[name] = match.group(2)
    if not pins:
        raise SystemExit(f"{path}: no `name==version` lines: not a lock file")
    return pins


def installed_differences(pins: dict[str, str]) -> list[str]:
    """One line per locked package that is not installed at exactly its locked version."""
    problems = []
    for name, wanted in sorted(pins.items()):
        try:
            have = version(name)
        except PackageNotFoundError:
            problems.append(f"{name}: locked {wanted}, not installed")
            continue
        if Version(have) != Version(wanted):
            problems.append(f"{name}: locked {wanted}, installed {have}")
    return problems


def pyproject_requirements(path: Path) -> list[Requirement]:
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return [Requirement(line) for line in lines]


def stale_pins(pins: dict[str, str], requirements: list[Requirement]) -> list[str]:
    """One line per pyproject.toml dependency that the lock lacks or pins outside its range."""
    problems = []
    for req in requirements:
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req}: in pyproject.toml, not in the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req}: the lock pins {pins[name]}, outside pyproject.toml's range")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements" / "lock.txt")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args(argv)
    pins = read_lock(args.lock)
    stale = stale_pins(pins, pyproject_requirements(args.pyproject))
    if stale:
        print(
            f"{args.lock} is out of date with {args.pyproject}; run ./scripts/lock:",
            file=sys.stderr,
        )
        print("\n".join(f"  {line}" for line in stale), file=sys.stderr)
        return 1
    differences = installed_differences(pins)
    if differences:
        print(
            f"this environment differs from {args.lock} ({len(differences)} of {len(pins)} "
            "locked packages); "
            "delete .venv and run the script again to reinstall the lock:",
            file=sys.stderr,
        )
        print("\n".join(f"  {line}" for line in differences), file=sys.stderr)
        return 1
    print(f"environment matches {args.lock.name}: {len(pins)} packages at their locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
