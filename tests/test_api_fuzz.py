"""schemathesis against /api/schema/ as an admin: no 500, and every answer as the schema says.

Bounded so the suite stays quick and repeatable: a fixed seed, EXAMPLES valid and EXAMPLES
invalid requests per operation, no shrinking, and a time budget after which the remaining
operations are skipped (the test says how many). The requests go straight into Django's WSGI
application: no server. Each runs in a savepoint rolled back afterwards, so every request sees
the same small world and a failed write on PostgreSQL cannot poison the next one.

Marked `postgres`: scripts/test runs it again on PostgreSQL, where out-of-range integers and NUL
fail in the database. A failure prints each operation's first failing request as curl.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, seed, settings
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotate.models import Role
from annotate.services.raters import rater_for_user
from annotate.services.votes import vote_submit
from tests.factories import MembershipFactory, ModelVersionFactory, UserFactory, make_comparison

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EXAMPLES = 12
SEED = 13
BUDGET_S = 75.0
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@contextmanager
def connections_kept():
    """Django closes the connection around each request; the test's transaction needs it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world() -> tuple[str, dict[str, int]]:
    """A staff superuser's token, and a little of everything: {path parameter: an id that
    exists}, so half the requests reach the view's own checks instead of a 404."""
    admin = UserFactory(username="fuzz-admin", is_staff=True, is_superuser=True)
    for _ in range(2):
        comparison = make_comparison()
        MembershipFactory(project=comparison.project, user=admin, role=Role.ADMIN)
        vote = vote_submit(comparison=comparison, rater=rater_for_user(user=admin), choice="a")
    member = MembershipFactory(project=comparison.project, user=UserFactory()).user
    version = ModelVersionFactory(parent=ModelVersionFactory())
    ids = {
        "project_id": comparison.project_id,
        "prompt_id": comparison.prompt_id,
        "comparison_id": comparison.pk,
        "vote_id": vote.pk,
        "user_id": member.pk,
        "version_id": version.pk,
    }
    return Token.objects.create(user=admin).key, ids


def fuzz_operation(
    operation, headers: dict, mode: GenerationMode, statuses: Counter, path: dict | None
) -> None:
    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
    def run(case):
        with transaction.atomic():
            response = case.call(headers=headers)
            transaction.set_rollback(True)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_the_api_answers_every_generated_request_as_its_schema_says(world):
    token, ids = world
    headers = {"Authorization": f"Token {token}"}
    with connections_kept():
        schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler(), headers=headers)
        operations = [result.ok() for result in schema.get_all_operations()]
        failures: list[str] = []
        statuses: Counter = Counter()
        skipped: list[str] = []
        started = time.monotonic()
        for operation in operations:
            if time.monotonic() - started > BUDGET_S:
                skipped.append(operation.label)
                continue
            modes = [GenerationMode.POSITIVE]
            if operation.query or operation.body:  # else nothing but the path to make invalid
                modes.append(GenerationMode.NEGATIVE)
            names = [parameter.name for parameter in operation.path_parameters]
            pinned = {name: ids[name] for name in names if name in ids}
            runs = [(mode, None) for mode in modes]
            if pinned:  # the same again at objects that exist
                runs += [(mode, pinned) for mode in modes]
            for mode, path in runs:
                try:
                    fuzz_operation(operation, headers, mode, statuses, path)
                except (Exception, BaseExceptionGroup) as exc:  # reported together below
                    where = f"{mode.value}, path {path}" if path else mode.value
                    failures.append(f"{operation.label} ({where}):\n{exc}")
                    break
    print(f"{len(operations)} operations, {time.monotonic() - started:.0f} s:", dict(statuses))
    assert not failures, f"{len(failures)} of {len(operations)} operations:\n\n" + "\n\n".join(
        failures
    )
    assert len(skipped) < len(operations) / 4, f"over the time budget, skipped: {skipped}"
