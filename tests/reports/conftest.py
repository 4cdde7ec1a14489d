"""The store's PostgreSQL fixtures (a schema per test) for the report command's tests."""

from __future__ import annotations

from tests.store.conftest import pg_dsn, schema

__all__ = ["pg_dsn", "schema"]
