"""Call records in PostgreSQL: schema migrations, the records, the outbox and its spool.

`await upgrade(conn_or_pool)` brings the schema up to date; `Outbox(dsn, spool_path)`
then `start()`, `put(record)` (never blocks), `close()`. See docs/store.md.
"""

from frontdesk.store.migrations import MigrationError, upgrade
from frontdesk.store.outbox import Outbox
from frontdesk.store.records import (
    CALL_FIELDS,
    OUTCOMES,
    AgentStateChange,
    AuditEntry,
    CallEvent,
    CallUpsert,
    Record,
    RecordError,
)
from frontdesk.store.spool import Spool

__all__ = [
    "CALL_FIELDS",
    "OUTCOMES",
    "AgentStateChange",
    "AuditEntry",
    "CallEvent",
    "CallUpsert",
    "MigrationError",
    "Outbox",
    "Record",
    "RecordError",
    "Spool",
    "upgrade",
]
