"""Log lines never carry a full phone number or a caller's name."""

from __future__ import annotations

import json

import pytest
import structlog

from frontdesk import logs


@pytest.fixture
def captured(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureFixture[str]:
    logs.configure("json")
    return capsys


def last_line(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    line: dict[str, object] = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    return line


def test_a_number_that_slipped_through_is_masked(captured: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger().info("call.note", detail="caller +13125551002 asked for (312) 555-1007")
    line = last_line(captured)
    assert "3125551002" not in str(line)
    assert "555-1007" not in str(line)
    assert line["detail"] == "caller *******1002 asked for ******1007"


def test_names_are_redacted(captured: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger().info("call.note", caller_name="José Müller", name="Ana Ruiz")
    line = last_line(captured)
    assert line["caller_name"] == line["name"] == "[redacted]"


def test_ids_ports_and_addresses_stay_readable(captured: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger().info(
        "x", channel="pbx-1795745091.1", host="127.0.0.1", did="+13125550000"
    )
    line = last_line(captured)
    assert (line["channel"], line["host"], line["did"]) == (
        "pbx-1795745091.1",
        "127.0.0.1",
        "+13125550000",
    )


def test_json_lines_in_production(captured: pytest.CaptureFixture[str]) -> None:
    structlog.get_logger().warning("ari.disconnected", retry_in=0.5)
    line = last_line(captured)
    assert line["level"] == "warning"
    assert line["event"] == "ari.disconnected"
    assert "timestamp" in line


def test_a_traceback_is_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json")
    try:
        raise ValueError("no patient at +13125551001")
    except ValueError:
        structlog.get_logger("t").exception("boom")
    out = capsys.readouterr().err
    assert "3125551001" not in out
    assert "1001" in out
