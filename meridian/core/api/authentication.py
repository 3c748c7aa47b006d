"""`ApiTokenAuthentication`: a person's named API token (`meridian.core.api_tokens`) sent as
`Authorization: Token <secret>` or `Authorization: Bearer <secret>`. An unknown, revoked or expired token, or one
whose login is disabled, is refused with 401 and a message saying which; a read-only token's write (any method but
GET, HEAD, OPTIONS) is refused with 403, whatever the view. (Kept apart from the API views: DRF imports this
module while `rest_framework.views` itself loads.)"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from meridian.core import api_tokens
from meridian.core.models import ApiToken

KEYWORDS = (b"token", b"bearer")


class ApiTokenAuthentication(BaseAuthentication):
    """A person's named API token, looked up by the SHA-256 of the secret sent."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        try:
            parts = get_authorization_header(request).split()
        except UnicodeEncodeError as exc:  # only from a test client: a server hands headers over as latin-1
            raise exceptions.AuthenticationFailed("This API token is not valid.") from exc
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # no token: the session (or nobody)
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the token as “Authorization: Token <secret>”, in one piece.")
        try:
            secret = parts[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("This API token is not valid.") from exc
        token = (
            ApiToken.objects.select_related("user").filter(digest=api_tokens.digest_of(secret)).first()
            if len(secret) <= 200
            else None
        )
        if token is None:
            raise exceptions.AuthenticationFailed("This API token is not valid.")
        now = timezone.now()
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API token was revoked: create a new one.")
        if token.is_expired(now):
            raise exceptions.AuthenticationFailed(
                f"This API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC: create a new one."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The login of this API token is disabled.")
        if token.read_only and request.method not in api_tokens.READ_METHODS:
            raise exceptions.PermissionDenied(
                "This API token is read-only: it may only read (GET, HEAD, OPTIONS). Use a token with write access."
            )
        api_tokens.touch(token, now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"
