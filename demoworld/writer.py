"""The only I/O of the demo: COPY the world into PostgreSQL, store and read the manifest,
hash the content.

Columns are encoded to COPY text format a chunk at a time with numpy (timestamps through
lookup tables), so a million rows cost seconds, and nothing is ever inserted row by row.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from importlib import resources
from typing import NamedTuple

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from demoworld.params import DAY
from revwatch import clock
from revwatch.db import fetch_one

CHUNK = 200_000
NULL_TEXT = b"\\N"
# (table, primary-key order) in load and hash order; byte order, whatever the collation
TABLES: tuple[tuple[str, str], ...] = (
    ("billing.sites", 'site_id COLLATE "C"'),
    ("billing.rate_plans", 'rate_plan_id COLLATE "C"'),
    ("billing.tax_rates", 'jurisdiction COLLATE "C", effective_from'),
    ("billing.parking_sessions", 'session_id COLLATE "C"'),
    ("billing.invoices", 'invoice_id COLLATE "C"'),
    ("billing.payment_attempts", 'attempt_id COLLATE "C"'),
    ("billing.refunds", 'refund_id COLLATE "C"'),
    # the gateways' side (demoworld/gateways.sql)
    ("demo.stripe_codes", "code"),
    ("demo.stripe_charges", "id"),
    ("demo.stripe_refunds", "id"),
    ("demo.stripe_disputes", "id"),
    ("demo.stripe_balance_transactions", "id"),
    ("demo.stripe_payouts", "id"),
    ("demo.adyen_reports", "batch_number"),
    # bank statements, GL exports, FX rates (demoworld/recon.sql)
    ("demo.bank_files", "file_name"),
    ("demo.gl_exports", "file_name"),
    ("demo.fx_file", "file_name"),
)


class Col(NamedTuple):
    """One column to COPY. kind: 'bytes' (S array, b'' = NULL if nullable), 'int' (int
    array, -1 = NULL if nullable), 'ts' (epoch seconds, -1 = NULL), 'date' (day number,
    -1 = NULL), 'enum' (index into labels, -1 = NULL), 'text' (list of str, None = NULL),
    'bool' (bool array)."""

    name: str
    kind: str
    values: np.ndarray | Sequence[str | None]  # a list for 'text', else a numpy array
    labels: tuple[str, ...] = ()
    nullable: bool = False


class Table(NamedTuple):
    name: str  # in schema billing unless qualified
    cols: tuple[Col, ...]

    @property
    def qualified(self) -> str:
        return self.name if "." in self.name else f"billing.{self.name}"

    @property
    def rows(self) -> int:
        return len(self.cols[0].values)


def _time_table() -> np.ndarray:
    sod = np.arange(DAY)
    out = np.empty((DAY, 8), dtype=np.uint8)
    for pos, part in ((0, sod // 3600), (3, sod // 60 % 60), (6, sod % 60)):
        out[:, pos] = 48 + part // 10
        out[:, pos + 1] = 48 + part % 10
    out[:, 2] = out[:, 5] = ord(":")
    return out


_TIMES: list[np.ndarray] = []


def _dates(first: int, last: int) -> np.ndarray:
    base = date(1970, 1, 1)
    text = b"".join((base + timedelta(days=int(d))).isoformat().encode() for d in range(first, last + 1))
    return np.frombuffer(text, dtype=np.uint8).reshape(-1, 10)


def encode_ts(t: np.ndarray) -> np.ndarray:
    """Epoch seconds -> b'YYYY-MM-DD HH:MM:SS+00' (S22), -1 -> NULL."""
    if not _TIMES:
        _TIMES.append(_time_table())
    null = t < 0
    t = np.where(null, 0, t)
    day, sod = t // DAY, t % DAY
    lo = int(day[~null].min()) if (~null).any() else 0
    hi = int(day[~null].max()) if (~null).any() else 0
    day = np.where(null, lo, day)
    mat = np.empty((t.size, 22), dtype=np.uint8)
    mat[:, :10] = _dates(lo, hi)[day - lo]
    mat[:, 10] = ord(" ")
    mat[:, 11:19] = _TIMES[0][sod]
    mat[:, 19:22] = np.frombuffer(b"+00", dtype=np.uint8)
    out = mat.view("S22").ravel()
    return np.where(null, NULL_TEXT, out) if null.any() else out


def encode(col: Col, lo: int, hi: int) -> list:
    """A chunk of one column as a list of bytes in COPY text format."""
    if col.kind == "text":
        return [NULL_TEXT if s is None else s.encode() for s in col.values[lo:hi]]
    if not isinstance(col.values, np.ndarray):
        raise TypeError(f"column {col.name}: {col.kind} values must be a numpy array")
    v = col.values[lo:hi]
    if col.kind == "bytes":
        return (np.where(v == b"", NULL_TEXT, v) if col.nullable else v).tolist()
    if col.kind == "int":
        out = v.astype("S20")
        return (np.where(v < 0, NULL_TEXT, out) if col.nullable else out).tolist()
    if col.kind == "ts":
        return encode_ts(v).tolist()
    if col.kind == "date":
        out = np.array([(date(1970, 1, 1) + timedelta(days=int(d))).isoformat().encode() if d >= 0 else NULL_TEXT
                        for d in v], dtype="S10")
        return out.tolist()
    if col.kind == "enum":
        labels = np.array([s.encode() for s in col.labels] + [NULL_TEXT])
        return labels[np.where(v < 0, len(col.labels), v)].tolist()
    if col.kind == "bool":
        return np.where(v, b"t", b"f").tolist()
    raise ValueError(col.kind)


def copy_chunks(table: Table) -> Iterator[bytes]:
    for lo in range(0, table.rows, CHUNK):
        hi = min(lo + CHUNK, table.rows)
        cols = [encode(c, lo, hi) for c in table.cols]
        yield b"\n".join(map(b"\t".join, zip(*cols, strict=True))) + b"\n"


def ddl(name: str = "billing.sql") -> tuple[str, str]:
    """A schema file split into (tables, what runs after the load)."""
    text = resources.files("demoworld").joinpath(name).read_text()
    tables, after = text.split("\n-- after load\n", 1)
    return tables, after


MANIFEST_DDL = """
CREATE SCHEMA IF NOT EXISTS demo;
CREATE TABLE IF NOT EXISTS demo.manifest (generated_at timestamptz NOT NULL, manifest jsonb NOT NULL);
"""


def write(url: str, tables: Sequence[Table], manifest: dict, progress: Callable[[str], None],
          demo_tables: Sequence[Table] = (), demo_rows: dict[str, list[tuple]] | None = None) -> None:
    """Replace the billing schema, the demo tables of the other sources (gateways.sql: Stripe,
    Adyen; recon.sql: bank, GL and FX files) and the stored manifest in one transaction:
    readers see the old world or the new one, never half of it. `demo_rows`: small tables
    (table -> rows) written with COPY row by row (psycopg escapes them)."""
    tables_sql, after_sql = ddl()
    demo_sql, demo_after = ddl("gateways.sql")
    recon_sql, recon_after = ddl("recon.sql")
    with psycopg.connect(url) as conn:
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")  # one-pass index builds
        conn.execute("DROP SCHEMA IF EXISTS billing CASCADE")
        conn.execute(tables_sql)
        conn.execute(demo_sql)
        conn.execute(recon_sql)
        with conn.cursor() as cur:
            for table in list(tables) + list(demo_tables):
                progress(f"writing {table.qualified}: {table.rows:,} rows")
                names = ", ".join(c.name for c in table.cols)
                with cur.copy(f"COPY {table.qualified} ({names}) FROM STDIN WITH (FREEZE)") as cp:
                    for data in copy_chunks(table):
                        cp.write(data)
            for name, rows in (demo_rows or {}).items():
                progress(f"writing {name}: {len(rows):,} rows")
                with cur.copy(f"COPY {name} FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
        progress("building keys and indexes")
        conn.execute(after_sql)
        conn.execute(demo_after)
        conn.execute(recon_after)
        conn.execute(MANIFEST_DDL)
        conn.execute("DELETE FROM demo.manifest")
        conn.execute("INSERT INTO demo.manifest (generated_at, manifest) VALUES (%s, %s)", [clock.now(), Jsonb(manifest)])
    with psycopg.connect(url, autocommit=True) as conn:
        for name, _ in TABLES:
            conn.execute(f"ANALYZE {name}")


def load_manifest(url: str) -> dict:
    """The manifest of the world currently in the database."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT manifest FROM demo.manifest ORDER BY generated_at DESC LIMIT 1").fetchone()
    if row is None:
        raise LookupError("no demo manifest in this database")
    return row[0]


def content_hash(url: str) -> str:
    """sha256 over every billing table's and every demo source table's rows (Stripe objects;
    Adyen, bank, GL and FX files) in primary-key order, rendered in UTC/ISO, so two worlds are
    equal exactly when their hashes are."""
    h = hashlib.sha256()
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO, YMD'")
        with conn.cursor() as cur:
            for name, pk in TABLES:
                h.update(f"\x00{name}\x00".encode())
                with cur.copy(f"COPY (SELECT * FROM {name} ORDER BY {pk}) TO STDOUT") as cp:
                    for data in cp:
                        h.update(data)
    return h.hexdigest()


def replace_files(named: Sequence[tuple[str, str]], directory, patterns: Sequence[str]):
    """Write (file name, text) pairs into `directory`, after removing the files of a previous
    world there that match `patterns` (so a smaller world leaves none of the bigger one's)."""
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for pattern in patterns:
        for old in directory.glob(pattern):
            old.unlink()
    paths = []
    for name, content in named:
        path = directory / name
        path.write_bytes(content.encode())
        paths.append(path)
    return paths


def stored_files(libpq_url: str, table: str) -> list[tuple[str, str]]:
    """(file name, text) of the files a world keeps in `table` (demo.adyen_reports, demo.bank_files,
    demo.gl_exports), in name order; none when the world predates the table."""
    with psycopg.connect(libpq_url) as conn:
        if fetch_one(conn.execute("SELECT to_regclass(%s)", (table,)))[0] is None:
            return []
        return conn.execute(f"SELECT file_name, content FROM {table} ORDER BY file_name").fetchall()

