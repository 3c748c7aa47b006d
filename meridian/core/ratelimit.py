"""Counting attempts per key in the shared cache (database cache on one machine, Redis on several): login
failures and password-reset requests, per account or address and per client address."""

from __future__ import annotations

import hashlib
import unicodedata

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

WINDOW_SECONDS = 15 * 60


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind a proxy (MERIDIAN_BEHIND_PROXY), the last X-Forwarded-For entry: the one
    our own proxy appended, which a client cannot forge."""
    if getattr(settings, "MERIDIAN_BEHIND_PROXY", False):
        header = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        forwarded = [part.strip() for part in header.split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return str(request.META.get("REMOTE_ADDR", ""))


def identity_key(kind: str, value: str) -> str:
    """A short cache key for any user input; NFKC-normalised and case-folded so that every spelling the login
    form accepts for one account ("ａｌｉｃｅ", " ALICE ") counts as that account."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value or "").strip().casefold())
    return f"rl:{kind}:{hashlib.sha256(folded.encode('utf-8', 'surrogatepass')).hexdigest()}"


def exceeded(keys: list[str], limit: int) -> bool:
    return any((cache.get(key) or 0) >= limit for key in keys)


def hit(keys: list[str]) -> None:
    for key in keys:
        cache.add(key, 0, timeout=WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=WINDOW_SECONDS)
