"""Test helpers at the network boundary (stdlib only): a tiny Stripe-style list server and a
proxy that injects faults (500, 429, 403, 404, connections dropped mid-response, bodies cut
short) in front of a server."""
from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(handler: type[BaseHTTPRequestHandler]) -> _Server:
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FakeStripe:
    """Serves GET lists newest first with `limit`, `starting_after`, `created[gte]` and, for
    balance transactions, `payout`; and GET /v1/payouts/{id}. Tests fill `objects` directly."""

    LISTS = ("charges", "refunds", "disputes", "balance_transactions", "payouts")

    def __init__(self, page_cap: int = 100) -> None:
        self.page_cap = page_cap  # pages smaller than asked for, so a few hundred objects span many pages
        self.objects: dict[str, list[dict]] = {name: [] for name in self.LISTS}
        self.in_payout: dict[str, set[str]] = {}  # payout id -> balance transaction ids
        self._sorted: dict[str, list[dict]] = {}  # newest first, kept until the next add
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # no delayed-ACK stall between headers and body

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                status, body = fake.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def add(self, name: str, obj: dict, payout: str | None = None) -> None:
        with self.lock:
            self.objects[name].append(obj)
            self._sorted.pop(name, None)
            if payout:
                self.in_payout.setdefault(payout, set()).add(obj["id"])

    def answer(self, path: str) -> tuple[int, dict]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        name = parts.path.removeprefix("/v1/")
        if "/" in name:  # retrieve one object
            kind, object_id = name.split("/", 1)
            found = [o for o in self.objects.get(kind, []) if o["id"] == object_id]
            return (200, found[0]) if found else (404, {"error": {"type": "invalid_request_error", "message": f"no such {kind}"}})
        if name not in self.objects:
            return 404, {"error": {"type": "invalid_request_error", "message": f"unknown {parts.path}"}}
        with self.lock:
            if name not in self._sorted:
                self._sorted[name] = sorted(self.objects[name], key=lambda o: (o["created"], o["id"]), reverse=True)
            rows = self._sorted[name]
        if "created[gte]" in query:
            rows = [o for o in rows if o["created"] >= int(query["created[gte]"])]
        if "payout" in query:
            ids = self.in_payout.get(query["payout"], set())
            rows = [o for o in rows if o["id"] in ids]
        if "starting_after" in query:
            after = next(i for i, o in enumerate(rows) if o["id"] == query["starting_after"])
            rows = rows[after + 1:]
        limit = min(int(query.get("limit", 10)), self.page_cap)
        return 200, {"object": "list", "url": parts.path, "data": rows[:limit], "has_more": len(rows) > limit}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


REFUSALS = {  # Stripe's own wording for a restricted key, and for a path it does not serve
    "403": lambda path: {"error": {"type": "invalid_request_error", "message": (
        "The provided key 'rk_test_*********************************************Xy9z' does not have the required"
        " permissions for this endpoint on account 'acct_1ParkCo'. Having the 'rak_dispute_read' permission would"
        f" allow this request to continue ({path}).")}},
    "404": lambda path: {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL (GET: {path})."}},
}


class FaultProxy:
    """Forwards GETs to `upstream`; `fault(n, path)` may answer request n (1-based) with
    "500", "429", "403" (what Stripe answers a restricted key without access to the resource),
    "404" (a server without that resource), "drop" (headers and half the body, then the
    connection is cut) or "truncate" (half the body, sent as if it were all of it).
    `adapt(path)` may rewrite the path, or answer with a dict itself (for servers that lack
    an endpoint or a filter)."""

    def __init__(self, upstream: str, fault: Callable[[int, str], str | None] = lambda n, p: None,
                 adapt: Callable[[str], str | dict] = lambda p: p) -> None:
        self.upstream = urlsplit(upstream)
        self.fault, self.adapt = fault, adapt
        self.count = 0
        self.faults: list[tuple[int, str, str]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _send(self, status: int, data: bytes, headers: dict | None = None, cut: bool = False):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if cut:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                else:
                    self.wfile.write(data)

            def _forward(self, method: str):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.count += 1
                    n = proxy.count
                what = proxy.fault(n, self.path) if method == "GET" else None
                if what:
                    proxy.faults.append((n, self.path, what))
                if what == "500":
                    return self._send(500, b'{"error": {"type": "api_error", "message": "injected"}}')
                if what == "429":
                    return self._send(429, b'{"error": {"type": "rate_limit_error", "code": "rate_limit", "message": "injected"}}')
                if what in ("403", "404"):
                    return self._send(int(what), json.dumps(REFUSALS[what](urlsplit(self.path).path)).encode())
                target = proxy.adapt(self.path) if method == "GET" else self.path
                if isinstance(target, dict):
                    return self._send(200, json.dumps(target).encode())
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(method, target, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self._send(resp.status, data[: len(data) // 2] if what == "truncate" else data, cut=what == "drop")

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

            def do_DELETE(self):
                self._forward("DELETE")

        self.server = _serve(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
