"""Issue 14, row 8: the API token.

`FRONTDESK_API_TOKEN=a` acted as a supervisor, and wrong tokens were neither logged nor
slowed. Now a token under 32 characters is refused at start (exit 2, naming the
variable, never the token), and wrong tokens are counted, logged at most once a minute
(without the token) and throttled per client address (429, even for the right token).
"""

from __future__ import annotations

import pytest
import structlog

from frontdesk.cli import main
from frontdesk.exits import EXIT_INVALID
from frontdesk.settings import MIN_API_TOKEN, Settings
from tests.web.test_auth import TOKEN, World
from tests.web.test_auth import accounts as accounts
from tests.web.test_auth import world as world

SHORT = "sup3r-short-token"


@pytest.mark.parametrize("token", ["a", SHORT, "x" * (MIN_API_TOKEN - 1)])
def test_a_short_token_is_refused_at_start(
    token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRONTDESK_API_TOKEN", token)
    assert main(["run"]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "FRONTDESK_API_TOKEN" in err
    assert f"at least {MIN_API_TOKEN} characters" in err
    assert "Traceback" not in err
    if len(token) > 1:
        assert token not in err


def test_a_long_token_is_kept() -> None:
    token = "k" * MIN_API_TOKEN
    assert Settings.from_env({"FRONTDESK_API_TOKEN": token}).api_token == token
    assert Settings.from_env({}).api_token is None


async def test_wrong_tokens_are_counted_logged_once_and_throttled(world: World) -> None:
    browser = world.browser()

    async def with_token(token: str) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {token}"}
        status, _, response_headers = await browser.request("GET", "/api/acd", headers=headers)
        return status, response_headers.get("Retry-After")

    assert (await with_token(TOKEN))[0] == 200
    with structlog.testing.capture_logs() as logs:
        for i in range(10):
            assert (await with_token(f"guess-{i}"))[0] == 401
        status, retry_after = await with_token(TOKEN)  # the right one, too late
    assert status == 429
    assert retry_after is not None
    assert 0 < int(str(retry_after)) <= 60
    refused = [e for e in logs if e["event"] == "auth.api_token_refused"]
    assert len(refused) == 1  # rate-limited: one line for the burst
    assert refused[0]["address"] == "127.0.0.1"
    assert all("guess-" not in repr(e) and TOKEN not in repr(e) for e in logs)
    # After the window, the right token works again; the next failure is logged again,
    # with the count since the last line (the 9 not logged, and this one).
    world.clock.advance(minutes=1, seconds=1)
    assert (await with_token(TOKEN))[0] == 200
    with structlog.testing.capture_logs() as logs:
        assert (await with_token("guess-again"))[0] == 401
    assert [e["failures"] for e in logs if e["event"] == "auth.api_token_refused"] == [10]
