"""Issue 14 row 12: patient data is validated at import, against the plan.

`preferred_language` `<b>en</b>` was stored and shown. Now `frontdesk directory import`
rejects, with its reason, a row whose language is not one of the plan's languages or
whose specialty is not one of its skills; markup is never stored. Real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.cli import main
from frontdesk.plan import load_plan
from frontdesk.routing.directory import Directory, Vocabulary
from frontdesk.settings import bundled_plan
from tests.pg import DSN

HEADER = "phone,patient_id,preferred_language,specialty\n"
ROWS = (
    "+13125551001,P-1,en,cardiology\n"  # line 2: fine
    "+13125551002,P-2,<b>en</b>,\n"  # line 3: markup
    "+13125551003,P-3,fr,\n"  # line 4: not one of the plan's languages (en, es)
    "+13125551004,P-4,es,<script>x</script>\n"  # line 5: markup
    "+13125551005,P-5,ES,podiatry\n"  # line 6: not one of the plan's skills
    "+13125551006,P-6,ES,Orthopedics\n"  # line 7: skills are exact
    "+13125551007,P-7,es,orthopedics\n"  # line 8: fine
)


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"fd_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        try:
            conn = await asyncpg.connect(DSN, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            pytest.skip(f"no PostgreSQL at {DSN}: {exc!r}")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(run(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


async def stored(schema: str) -> dict[str, tuple[str | None, str | None]]:
    conn = await asyncpg.connect(DSN, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch("SELECT patient_id, preferred_language, specialty FROM patients")
    finally:
        await conn.close()
    return {r["patient_id"]: (r["preferred_language"], r["specialty"]) for r in rows}


def test_import_rejects_values_the_plan_does_not_know(
    schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "directory.csv"
    csv.write_text(HEADER + ROWS, encoding="utf-8")
    sep = "&" if "?" in DSN else "?"
    url = f"{DSN}{sep}options={quote(f'-csearch_path={schema}', safe='')}"
    args = ["directory", "import", str(csv), "--database-url", url, "--json"]
    code = main([*args, "--plan", str(bundled_plan())])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert [(r["line"], r["reason"]) for r in report["rejected"]] == [
        (3, "preferred_language is not a language code"),
        (4, "preferred_language 'fr' is not one of the plan's languages (en, es)"),
        (5, "specialty is not a skill name"),
        (6, "specialty 'podiatry' is not one of the plan's skills"),
        (7, "specialty 'Orthopedics' is not one of the plan's skills"),
    ]
    assert asyncio.run(stored(schema)) == {
        "P-1": ("en", "cardiology"),
        "P-7": ("es", "orthopedics"),
    }
    assert "<b>" not in out


def test_markup_is_refused_even_without_a_plan(tmp_path: Path) -> None:
    csv = tmp_path / "directory.csv"
    csv.write_text(HEADER + ROWS, encoding="utf-8")
    directory = Directory.from_csv(csv)
    assert [r.line for r in directory.rejected] == [3, 5]
    assert directory.lookup("+13125551002") is None


def test_the_plans_vocabulary() -> None:
    vocabulary = Vocabulary.of(load_plan(bundled_plan()))
    assert vocabulary.languages == {"en", "es"}
    assert {"cardiology", "orthopedics", "primary_care"} <= vocabulary.specialties
    assert "spanish" not in vocabulary.specialties  # a language's skill is no specialty
