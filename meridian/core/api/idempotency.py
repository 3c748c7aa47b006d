"""`Idempotency-Key` on API POSTs (creates and lifecycle actions): a client that lost the answer to a POST (a
timeout, a dropped connection, a server killed after commit) sends it again with the same key and gets the
first answer instead of a second record.

How it holds: the key row is inserted first, inside the transaction of the write it guards, and filled with the
answer before commit, so a crash leaves both or neither. A concurrent request with the same key waits on that
insert (PostgreSQL: the unique index entry; SQLite: the database write lock, taken when the transaction begins)
until the first commits, then replays its answer; if the first rolls back, it runs itself. So no request ever
sees a key "in progress", and two requests with one key never both write. Failed requests (any exception, any
answer that is not a success) leave no key: a retry runs again.

This is transport state, like a session: it is not a record, has no audit event, and is purged after
`IdempotencyKey.KEEP` by the `core.purge_idempotency_keys` task.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from rest_framework.exceptions import APIException, NotAuthenticated, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from meridian.core.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
REPLAYED_HEADER = "Idempotent-Replayed"


class KeyReused(APIException):
    """The key was used before by the same user for another request (another path, body or If-Match)."""

    status_code = 422
    default_detail = (
        "This Idempotency-Key was already used for another request (another path, body or If-Match). "
        "Use a new key for each new request; repeat a key only to retry exactly the same request."
    )
    default_code = "idempotency_key_reused"


def requested_key(request: Request) -> str | None:
    """The request's `Idempotency-Key` header: 1 to 255 printable ASCII characters, or a 400 naming it."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key) or not key.strip():
        raise ValidationError({HEADER: ["Give 1 to 255 printable ASCII characters, for example a new UUID."]})
    return key


def fingerprint(request: Request) -> str:
    """What makes a request the same request: method, path, If-Match and the parsed body (so that the body's
    whitespace and key order do not matter)."""
    payload = [request.method, request.path, request.headers.get("If-Match", ""), request.data]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(text.encode()).hexdigest()


def claim(request: Request, key: str) -> tuple[IdempotencyKey, bool]:
    """Inside the guarding transaction: take the key for this request (True), or find the committed row of the
    request that took it first (False), waiting for it if it is still running. Another request's key is a 422."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("an idempotency key is claimed inside the transaction of the write it guards")
    print_, user_id = fingerprint(request), request.user.pk
    if user_id is None:
        raise NotAuthenticated()  # keys are per user: an anonymous request never reaches a write anyway
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(user_id=user_id, key=key, fingerprint=print_, status_code=0, body="")
        return row, True
    except IntegrityError:
        first = IdempotencyKey.objects.get(user_id=user_id, key=key)
    if first.fingerprint != print_:
        raise KeyReused()
    return first, False


def keep(row: IdempotencyKey, response: Response, etag: str) -> None:
    """Store a successful answer in the claimed row (still inside the guarding transaction)."""
    row.status_code = response.status_code
    row.body = json.dumps(response.data, cls=DjangoJSONEncoder)
    row.etag = etag
    row.save(update_fields=["status_code", "body", "etag"])


def replay(row: IdempotencyKey) -> Response:
    """The first answer again: same status, same body, same ETag, marked `Idempotent-Replayed: true`."""
    headers: dict[str, Any] = {REPLAYED_HEADER: "true"}
    if row.etag:
        headers["ETag"] = row.etag
    return Response(json.loads(row.body), status=row.status_code, headers=headers)
