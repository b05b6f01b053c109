"""Browser test helpers; the `browser` and `page` fixtures live in tests/conftest.py."""

from __future__ import annotations


def login(page, username: str, password: str = "pw-secret-123") -> None:
    """Log in with the keyboard only: type, Tab, type, Enter."""
    page.goto("/accounts/login/")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/accounts/login" not in url)
