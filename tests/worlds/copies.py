"""The billing copies beside their source: the rows that differ, and the indexes and keys the copies carry,
for the ingest's tests (tests/test_billing_ingest.py, tests/test_billing_first_load.py)."""
from __future__ import annotations

INDEXES = """SELECT c.relname, pg_get_indexdef(x.indexrelid), con.conname
    FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid
    LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid
    WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1, 2"""


def differences(world, table) -> int:
    """Rows that differ between the source table and our copy, both directions."""
    cols = ", ".join(table.columns)
    return world.sql(
        f"SELECT count(*) FROM ((SELECT {cols} FROM billing.{table.name} EXCEPT ALL SELECT {cols} FROM public.{table.name})"
        f" UNION ALL (SELECT {cols} FROM public.{table.name} EXCEPT ALL SELECT {cols} FROM billing.{table.name})) d"
    )[0][0]
