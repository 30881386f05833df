"""Identifiers that look like the real ones (random-looking) yet are unique by construction.

Each id carries its row number scrambled by a bijection (x -> a*x + b mod base**width,
a coprime to the modulus, near its golden section), plus random characters: two rows can
never collide, and no uniqueness check is needed. Ids are numpy bytes arrays (`S<n>`), ready for COPY.
"""
from __future__ import annotations

import math

import numpy as np

BASE62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)


def _digits(values: np.ndarray, alphabet: np.ndarray, width: int) -> np.ndarray:
    """Integers -> (n, width) uint8 matrix of fixed-width digits in `alphabet`'s base."""
    base = len(alphabet)
    out = np.empty((values.size, width), dtype=np.uint8)
    v = values.astype(np.uint64).copy()
    for col in range(width - 1, -1, -1):
        out[:, col] = alphabet[(v % base).astype(np.intp)]
        v //= base
    return out


def _scrambled(rng: np.random.Generator, n: int, alphabet: np.ndarray, width: int) -> np.ndarray:
    modulus = len(alphabet) ** width
    if n * modulus >= 2**63:
        raise ValueError("too many ids for this width")
    a = int(modulus * 0.6180339887) | 1
    while math.gcd(a, modulus) != 1:
        a += 2
    b = int(rng.integers(0, modulus))
    idx = np.arange(n, dtype=np.int64)
    return _digits((idx * a + b) % modulus, alphabet, width)


def _random(rng: np.random.Generator, n: int, alphabet: np.ndarray, width: int) -> np.ndarray:
    return alphabet[rng.integers(0, len(alphabet), size=(n, width), dtype=np.uint8)]


def _join(prefix: bytes, *parts: np.ndarray) -> np.ndarray:
    n = parts[0].shape[0]
    head = np.broadcast_to(np.frombuffer(prefix, dtype=np.uint8), (n, len(prefix)))
    body = np.ascontiguousarray(np.concatenate([head, *parts], axis=1))
    return body.view(f"S{body.shape[1]}").ravel()


def make_ids(rng: np.random.Generator, prefix: str, n: int, width: int = 14) -> np.ndarray:
    """`prefix` + base62: e.g. ses_4fKq0aZ81mQx7c."""
    return _join(prefix.encode(), _scrambled(rng, n, BASE62, 6), _random(rng, n, BASE62, width - 6))


def stripe_ids(rng: np.random.Generator, prefix: str, n: int) -> np.ndarray:
    """Stripe-shaped object ids: `ch_3` / `re_3` + 23 base62 characters."""
    return _join(f"{prefix}_3".encode(), _random(rng, n, BASE62, 17), _scrambled(rng, n, BASE62, 6))


def psp_references(rng: np.random.Generator, n: int, lead: str) -> np.ndarray:
    """Adyen PSP references: 16 digits. `lead` (one digit) keeps payment and refund
    references apart."""
    return _join(lead.encode(), _scrambled(rng, n, DIGITS, 10), _random(rng, n, DIGITS, 5))


def uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """UUID-4-shaped strings (idempotency keys), unique by construction."""
    rnd = _random(rng, n, HEX, 20)
    rnd[:, 12] = ord("4")
    rnd[:, 16] = np.frombuffer(b"89ab", dtype=np.uint8)[rng.integers(0, 4, n)]
    tail = np.concatenate([_scrambled(rng, n, HEX, 8), _random(rng, n, HEX, 4)], axis=1)
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    return _join(b"", rnd[:, :8], dash, rnd[:, 8:12], dash, rnd[:, 12:16], dash, rnd[:, 16:20], dash, tail)
