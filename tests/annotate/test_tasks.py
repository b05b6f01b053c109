from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from annotate.models import Assignment, AssignmentStatus
from annotate.services.queue import assignment_next
from annotate.tasks import expire_assignments
from tests.factories import HumanRaterFactory, ProjectFactory, make_comparison

pytestmark = pytest.mark.django_db


def test_lease_sweep_is_scheduled_every_minute():
    schedule = Schedule.objects.get(func="annotate.tasks.expire_assignments")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 1, -1)


def test_sweep_task_expires_stale_leases():
    project = ProjectFactory(overlap=1)
    make_comparison(project=project)
    assignment_next(project=project, rater=HumanRaterFactory())
    Assignment.objects.update(assigned_at=timezone.now() - timedelta(days=1))
    assert expire_assignments() == 1
    assert Assignment.objects.get().status == AssignmentStatus.EXPIRED
