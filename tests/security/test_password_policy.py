"""Issue 14, row 9: passwords (NIST SP 800-63B).

Ten spaces, or `aaaaaaaaaa`, were accepted. Now a password has at least 12 characters,
is not one character repeated, does not contain the username (in any case) and is not
in the bundled list of common passwords; no composition rules. Checked wherever a
password is set: `frontdesk users add` and `users passwd`.
"""

from __future__ import annotations

from importlib import resources

import pytest

from frontdesk.store.accounts import AccountError, check_password, common_passwords
from tests.web.test_users_cli import PASSWORD, run, verify
from tests.web.test_users_cli import no_plan_from_env as no_plan_from_env
from tests.web.test_users_cli import url as url

REFUSED = [
    (" " * 10, "alice", "at least 12"),
    ("a" * 10, "alice", "at least 12"),
    ("elevenchars", "alice", "at least 12"),
    (" " * 12, "alice", "one character repeated"),
    ("a" * 40, "alice", "one character repeated"),
    ("my name is Alice, ok", "alice", "contain the username"),
    ("ALICE-2026-frontdesk", "alice", "contain the username"),
    ("password1234", "alice", "too common"),
    ("Password1234", "alice", "too common"),  # case does not make it another password
    ("qwertyuiop123", "alice", "too common"),
    ("123456789012", "alice", "too common"),
    ("correcthorsebatterystaple", "alice", "too common"),
]


@pytest.mark.parametrize(("password", "username", "message"), REFUSED)
def test_weak_passwords_are_refused(password: str, username: str, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        check_password(password, username)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",  # a passphrase: no digits, capitals or symbols needed
        "all lower case words here",
        "123459876012",  # digits only, but not a common one
        "grüße aus köln am rhein",  # any Unicode
    ],
)
def test_good_passwords_need_no_composition_rules(password: str) -> None:
    assert check_password(password, "alice") == password


def test_the_list_ships_with_the_package() -> None:
    listed = resources.files("frontdesk.store") / "common_passwords.txt"
    assert listed.is_file()
    common = common_passwords()
    assert len(common) >= 300
    assert "password1234" in common
    assert all(word == word.lower() and word.strip() == word for word in common)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("a" * 12, "one character repeated"),
        (" " * 10, "at least 12"),
        ("carol-the-agent", "contain the username"),
        ("Password1234", "too common"),
    ],
)
def test_the_users_cli_refuses_them(
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    password: str,
    message: str,
) -> None:
    add = ["users", "add", "carol", "--role", "agent", "--database-url", url]
    code, _, err = run([*add, "--password-stdin"], capsys, monkeypatch, stdin=password + "\n")
    assert (code, message in err) == (2, True)
    assert verify(url, "carol", password) is None
    # `passwd` applies the same rules to an existing account.
    code, _, _ = run([*add, "--password-stdin"], capsys, monkeypatch, stdin=PASSWORD + "\n")
    assert code == 0
    passwd = ["users", "passwd", "carol", "--database-url", url, "--password-stdin"]
    code, _, err = run(passwd, capsys, monkeypatch, stdin=password + "\n")
    assert (code, message in err) == (2, True)
    assert verify(url, "carol", PASSWORD) is not None
