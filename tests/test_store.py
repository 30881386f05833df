"""A new source world resets everything copied or computed from the old one, and keeps history."""
from __future__ import annotations

from revwatch.schema import Base
from revwatch.store import HISTORY, SOURCE_COPIES, reset_source_copies


def test_every_table_is_either_reset_or_kept_as_history():
    tables = set(Base.metadata.tables)
    assert set(SOURCE_COPIES) | set(HISTORY) == tables
    assert not set(SOURCE_COPIES) & set(HISTORY)


def test_reset_empties_copies_and_derived_tables_but_keeps_the_breaks_history(make_world):
    w = make_world()
    w.sql("INSERT INTO fx_rates VALUES ('2026-10-01', 'CAD', 0.72, 'x')")
    w.sql("INSERT INTO recon_breaks (stage, item_key, state) VALUES ('S3', 'payout:stripe:po_1', 'open')")
    w.sql("INSERT INTO recon_break_events (break_id, actor, action) VALUES (1, 'reconcile', 'opened')")
    reset_source_copies(w.engine)
    assert w.sql("SELECT (SELECT count(*) FROM fx_rates), (SELECT count(*) FROM recon_breaks),"
                 " (SELECT count(*) FROM recon_break_events)") == [(0, 0, 1)]
