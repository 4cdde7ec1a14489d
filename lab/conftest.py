"""The lab tier's fixtures: one real Asterisk, frontdesk, SIPp phones and the trunk for
the whole session, stopped afterwards whatever happened. Skipped (and saying why) when
this machine has no Asterisk build (`FRONTDESK_LAB_PREFIX`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pg import dsn_in

from lab.ami_watch import AmiWatch
from lab.harness import Lab, admin_sql
from lab.pbx import lab_prefix


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    prefix = lab_prefix()
    if prefix is None:
        pytest.skip("no Asterisk build: set FRONTDESK_LAB_PREFIX (docs/real-asterisk.md)")
    schema = f"fd_lab_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin_sql(f'CREATE SCHEMA "{schema}"'))
    # A fixed folder (kept after the run for its logs and SIPp traces), emptied first.
    workdir = Path(os.environ.get("FRONTDESK_LAB_WORKDIR") or "/tmp/frontdesk-lab")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    the_lab = Lab(prefix, workdir, dsn_in(schema), schema)
    try:
        the_lab.start()
        yield the_lab
    finally:
        the_lab.stop()
        asyncio.run(admin_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        print(f"\nlab: logs and SIPp traces in {workdir}")


@pytest.fixture(scope="session")
def ami(lab: Lab) -> Iterator[AmiWatch]:
    watch = AmiWatch("lab", lab.pbx.secrets.lab_ami)
    yield watch
    watch.close()
