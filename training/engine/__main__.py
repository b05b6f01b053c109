"""``python -m training.engine JOB.json``: the same as ``python -m training.engine.cli``."""

from __future__ import annotations

import sys

from training.engine.cli import main

sys.exit(main())
