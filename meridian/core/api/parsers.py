"""Request body parsers of the API: JSON with a nesting limit.

Python's JSON decoder recurses once per level of nesting, so a body of 50,000 opening brackets ends in a
RecursionError (a 500). No Meridian record nests more than a few levels, so the parser refuses a body nested
deeper than `MAX_JSON_DEPTH` with a 400 before decoding it. The size of a body is limited before it is read at
all (`ApiErrorMiddleware`, setting `MERIDIAN_API_MAX_BODY`).
"""

from __future__ import annotations

import io
import re
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32

# a JSON string (its brackets are text, not structure), and the characters that open or close a level
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str, *, stop_above: int) -> int:
    """How deeply arrays and objects nest in a JSON text; counting stops once past `stop_above`."""
    depth = deepest = 0
    for char in _NOT_A_BRACKET.sub("", _STRING.sub("", text)):
        depth += 1 if char in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > stop_above:
                break
    return deepest


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than `MAX_JSON_DEPTH` (400) before decoding them."""

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}.") from exc
        if nesting_depth(text, stop_above=MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.")
        return super().parse(io.BytesIO(raw), media_type, parser_context)
