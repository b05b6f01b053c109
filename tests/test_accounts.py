"""Accounts: wrong passwords lock the (username, address) pair out with 429 on every login
(annotator, admin, API token); Django's standard password validators refuse weak passwords."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
LOGINS = {
    "annotator login": "/accounts/login/",
    "admin login": "/admin/login/",
    "API token": "/api/auth/token/",
}


@pytest.fixture
def account():
    return get_user_model().objects.create_user("carol", password=PASSWORD, is_staff=True)


def _try(client, url: str, password: str, username: str = "carol", address: str = "10.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("url", LOGINS.values(), ids=LOGINS.keys())
def test_thirty_wrong_passwords_are_locked_out_after_five(client, account, url):
    codes = [_try(client, url, f"wrong-{i}").status_code for i in range(30)]
    assert 429 not in codes[:4]  # the first failures get the ordinary answer
    assert codes[5:] == [429] * 25
    locked = _try(client, url, PASSWORD)
    assert locked.status_code == 429  # even the right password, while locked out
    assert locked["Retry-After"] == "900"
    if url.startswith("/api/"):
        assert "Too many failed logins" in locked.json()["detail"]
    else:
        assert b"Too many failed logins" in locked.content


def test_the_lockout_is_per_account_and_address(client, account):
    get_user_model().objects.create_user("dave", password=PASSWORD)
    for i in range(6):
        _try(client, "/api/auth/token/", f"wrong-{i}")
    assert _try(client, "/api/auth/token/", PASSWORD).status_code == 429
    # Another account from the same address, and the same account from elsewhere, still log in.
    assert _try(client, "/api/auth/token/", PASSWORD, username="dave").status_code == 200
    assert _try(client, "/api/auth/token/", PASSWORD, address="10.0.0.2").status_code == 200


def test_a_successful_login_resets_the_count(client, account):
    for i in range(4):
        _try(client, "/api/auth/token/", f"wrong-{i}")
    assert _try(client, "/api/auth/token/", PASSWORD).status_code == 200
    for i in range(4):
        assert _try(client, "/api/auth/token/", f"again-{i}").status_code == 400
    assert _try(client, "/api/auth/token/", PASSWORD).status_code == 200


@pytest.mark.parametrize("weak", ["password", "12345678", "carol123", "abcdefgh"])
def test_weak_passwords_are_refused(account, weak):
    with pytest.raises(ValidationError):
        validate_password(weak, user=account)


def test_a_strong_password_passes(account):
    validate_password("plum-kettle-orbit-42", user=account)
