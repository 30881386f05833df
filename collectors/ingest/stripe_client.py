"""Talking to Stripe (or a Stripe-compatible server) for the ingest: the client, our bounded retries,
and one GET whose errors say what happened without repeating what the server sent.

Stripe's library logs every response body at DEBUG and puts an unparseable body into its error
message: either would carry whole objects, cardholder data included, past the allowlist
(stripe_fields.py) into the logs or the run log. Its logger is held at INFO and such a body is
reported by its size only. A 403 (a restricted key) or a 404 on a list (no such list) becomes
`Refused`, without the server's message (Stripe's names the key, masked, and the account).
"""
from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from collectors.ingest.gateway_access import Refused

log = logging.getLogger(__name__)

NETWORK_RETRIES = 2  # the library's own retries: 5xx, 409 and failed connects


class UnreadableBody(stripe.APIError):
    """A response whose body is not JSON (cut short): said without the body."""


@dataclass(frozen=True)
class Retry:
    """Our retries around one page fetch, for what the library does not retry itself:
    429 rate limits, connections dropped mid-response and bodies cut short. Bounded; then the run fails."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0

    def call(self, fetch: Callable[[], Any]) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                return fetch()
            except (stripe.RateLimitError, stripe.APIConnectionError, UnreadableBody) as exc:
                if attempt == self.attempts:
                    raise
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                log.info("stripe fetch failed (%s), retry %d in %.2fs", type(exc).__name__, attempt, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")


def hold_library_log() -> None:
    """No response body in any log: the library's logger at INFO at least, its console log too."""
    lib = logging.getLogger("stripe")
    lib.setLevel(max(lib.level, logging.INFO))
    if stripe.log == "debug" or (stripe.log is None and os.environ.get("STRIPE_LOG") == "debug"):
        stripe.log = "info"


def make_client(api_key: str, api_base: str | None = None) -> stripe.StripeClient:
    hold_library_log()
    return stripe.StripeClient(
        api_key, base_addresses={"api": api_base} if api_base else None, max_network_retries=NETWORK_RETRIES
    )


def get(client: stripe.StripeClient, service: str, path: str, params: Mapping[str, Any] | None = None,
        listing: bool = False) -> dict:
    """One GET through the library's raw request (its auth, encoding, errors and network retries;
    the page kept as parsed JSON: building StripeObjects for every object was half the run time).
    `service` is the object type's list name. 403, and 404 on a list, raise Refused; a body that is
    not JSON raises UnreadableBody."""
    try:
        return client.raw_request("get", path, **(params or {})).data
    except stripe.PermissionError:
        raise Refused(service, 403) from None
    except stripe.InvalidRequestError as exc:
        if listing and exc.http_status == 404 and exc.code != "resource_missing":  # no such list, not no such object
            raise Refused(service, 404) from None
        raise
    except stripe.APIError as exc:
        if str(exc.user_message or "").startswith("Invalid response body"):
            raise UnreadableBody(f"unreadable response body from {path} (HTTP {exc.http_status},"
                                 f" {len(exc.http_body or '')} bytes; the body is not kept)",
                                 http_status=exc.http_status) from None
        raise
