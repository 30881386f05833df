"""A local, read-only Stripe-compatible HTTP API over the demo world's Stripe objects.

    with StripeDemoServer(libpq_url) as server:        # or .start() / .stop()
        client = stripe.StripeClient("sk_test_demo", base_addresses={"api": server.base_url})
        for charge in client.v1.charges.list(params={"limit": 100}).auto_paging_iter(): ...

GET only, `Authorization: Bearer <any non-empty key>`. Endpoints: /v1/charges, /v1/refunds,
/v1/disputes, /v1/balance_transactions, /v1/payouts, and /v1/<those>/<id>. Lists follow
Stripe: newest first (created desc, then id desc), `limit` (default 10, 1..100),
`starting_after` / `ending_before` (object ids), `created` (an integer, or `created[gt]`,
`[gte]`, `[lt]`, `[lte]`), and per resource: `payout`, `type`, `source` (balance
transactions), `charge` (refunds, disputes), `status` (payouts). Each page is one indexed
query on (created, id) (or (payout, created, id)); JSON is built by PostgreSQL for the rows
of the page only. Errors are Stripe's error JSON.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import psycopg

RESOURCES = {  # path -> (table, json function, object name, extra equality filters)
    "charges": ("demo.stripe_charges", "demo.stripe_charge_json", "charge", ()),
    "refunds": ("demo.stripe_refunds", "demo.stripe_refund_json", "refund", ("charge",)),
    "disputes": ("demo.stripe_disputes", "demo.stripe_dispute_json", "dispute", ("charge",)),
    "balance_transactions": ("demo.stripe_balance_transactions", "demo.stripe_balance_transaction_json",
                             "balance_transaction", ("payout", "type", "source")),
    "payouts": ("demo.stripe_payouts", "demo.stripe_payout_json", "payout", ("status",)),
}
CREATED_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
IGNORED = {"expand", "expand[]"}


class StripeError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        err = {"type": "invalid_request_error", "message": self.message}
        if self.param:
            err["param"] = self.param
        if self.code:
            err["code"] = self.code
        return {"error": err}


class _Pool:
    """A few reusable connections (autocommit, read-only work)."""

    def __init__(self, url: str):
        self.url = url
        self.free: list[psycopg.Connection] = []
        self.lock = threading.Lock()

    def get(self) -> psycopg.Connection:
        with self.lock:
            while self.free:
                conn = self.free.pop()
                if not conn.closed:
                    return conn
        return psycopg.connect(self.url, autocommit=True)

    def put(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.close()
            return
        with self.lock:
            self.free.append(conn)

    def close(self) -> None:
        with self.lock:
            for conn in self.free:
                conn.close()
            self.free.clear()


def _int(value: str, param: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise StripeError(400, f"Invalid integer: {value}", param) from None


def retrieve(conn: psycopg.Connection, resource: str, object_id: str) -> str:
    table, fn, name, _ = RESOURCES[resource]
    row = conn.execute(f"SELECT {fn}(t)::text FROM {table} t WHERE t.id = %s", [object_id]).fetchone()
    if row is None:
        raise StripeError(404, f"No such {name}: '{object_id}'", "id", "resource_missing")
    return row[0]


def list_page(conn: psycopg.Connection, resource: str, query: list[tuple[str, str]]) -> str:
    table, fn, name, filters = RESOURCES[resource]
    where: list[str] = []
    args: list[str | int] = []
    limit = 10
    after = before = None
    for key, value in query:
        if key == "limit":
            limit = _int(value, "limit")
            if not 1 <= limit <= 100:
                raise StripeError(400, "This value must be between 1 and 100 (it currently is "
                                       f"{limit}).", "limit")
        elif key == "starting_after":
            after = value
        elif key == "ending_before":
            before = value
        elif key == "created":
            where.append("t.created = %s")
            args.append(_int(value, "created"))
        elif key.startswith("created[") and key.endswith("]") and key[8:-1] in CREATED_OPS:
            where.append(f"t.created {CREATED_OPS[key[8:-1]]} %s")
            args.append(_int(value, key))
        elif key in filters:
            where.append(f"t.{key} = %s")
            args.append(value)
        elif key in IGNORED or key.startswith("expand["):
            continue
        else:
            raise StripeError(400, f"Received unknown parameter: {key}", key, "parameter_unknown")
    if after and before:
        raise StripeError(400, "You may only specify one of these parameters: ending_before, starting_after.",
                          "ending_before")
    cursor = after or before
    if cursor:
        row = conn.execute(f"SELECT created, id FROM {table} WHERE id = %s", [cursor]).fetchone()
        if row is None:
            raise StripeError(400, f"No such {name}: '{cursor}'", "starting_after" if after else "ending_before",
                              "resource_missing")
        where.append("(t.created, t.id) < (%s, %s)" if after else "(t.created, t.id) > (%s, %s)")
        args += [row[0], row[1]]
    direction = "ASC" if before else "DESC"
    sql = (f"SELECT {fn}(t)::text FROM {table} t {'WHERE ' + ' AND '.join(where) if where else ''} "
           f"ORDER BY t.created {direction}, t.id {direction} LIMIT %s")
    rows = [r[0] for r in conn.execute(sql, [*args, limit + 1]).fetchall()]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if before:
        rows.reverse()
    return ('{"object": "list", "data": [' + ", ".join(rows) + '], "has_more": '
            + ("true" if has_more else "false") + ', "url": "/v1/' + resource + '"}')


def _handler(pool: _Pool):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: without this, a 40 ms delayed-ACK stall per page
        server_version = "StripeDemo/1"

        def log_message(self, *_args) -> None:  # quiet
            pass

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_demo")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, err: StripeError) -> None:
            self._send(err.status, json.dumps(err.body()))

        def do_GET(self) -> None:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not auth[7:].strip():
                self._send(401, json.dumps({"error": {
                    "type": "invalid_request_error",
                    "message": "You did not provide an API key. You need to provide your API key in the "
                               "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."}}))
                return
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            try:
                if len(parts) not in (2, 3) or parts[0] != "v1" or parts[1] not in RESOURCES:
                    raise StripeError(404, f"Unrecognized request URL (GET: {url.path}).")
                conn = pool.get()
                try:
                    if len(parts) == 3:
                        body = retrieve(conn, parts[1], parts[2])
                    else:
                        body = list_page(conn, parts[1], parse_qsl(url.query, keep_blank_values=True))
                finally:
                    pool.put(conn)
            except StripeError as err:
                self._error(err)
                return
            except psycopg.Error as exc:
                self._send(500, json.dumps({"error": {"type": "api_error", "message": str(exc).strip()}}))
                return
            self._send(200, body)

        def _not_allowed(self) -> None:
            self._error(StripeError(405, f"This demo API is read-only ({self.command} not supported)."))

        do_POST = do_DELETE = do_PUT = do_PATCH = _not_allowed

    return Handler


class StripeDemoServer:
    """Serve the Stripe objects of the demo world in `libpq_url` over HTTP."""

    def __init__(self, libpq_url: str, host: str = "127.0.0.1", port: int = 0):
        self.libpq_url, self.host, self.port = libpq_url, host, port
        self._pool: _Pool | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        if not isinstance(host, str):  # getsockname() of an AF_INET(6) socket names its host as a str
            raise RuntimeError(f"unexpected server address {host!r}")
        return f"http://{host}:{port}"

    def start(self) -> str:
        if self._httpd is not None:
            return self.base_url
        self._pool = _Pool(self.libpq_url)
        self._httpd = ThreadingHTTPServer((self.host, self.port), _handler(self._pool))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="stripe-demo-server", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.close()
        self._httpd = self._thread = self._pool = None

    def __enter__(self) -> StripeDemoServer:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()
