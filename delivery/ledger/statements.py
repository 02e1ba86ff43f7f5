"""Statements with server-side binding, for the ledger's bulk and hot statements."""

from typing import Any

import psycopg
from django.db import connection


def execute_bound(sql: str, params: Any) -> list[tuple[Any, ...]]:
    """Run `sql` with its parameters bound by the server. Django's psycopg cursor splices every
    parameter into the SQL text in Python, which for a batch of payloads or arrays of hundreds
    of ids costs more than the statement; psycopg also prepares a statement it sees
    repeatedly, so planning is done once. Returns the rows, or [] for a statement with none."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []
