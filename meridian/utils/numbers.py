"""Whole numbers typed by people or sent as text (a form field, a query parameter, a header)."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]+")


def positive_int(text: str) -> int | None:
    """`text` as a whole number of at least 1, or None: ASCII digits only (no sign, no "1.0", no spaces, no
    non-ASCII digits that `int()` would accept)."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value >= 1 else None
