"""django-q2 entry points for annotation housekeeping."""

from __future__ import annotations

from annotate.services.queue import assignments_expire


def expire_assignments() -> int:
    """Free the slots of leases that ran out, for queues nobody is pulling from right now."""
    return assignments_expire()
