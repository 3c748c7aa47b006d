"""API tokens: several named tokens per login, one per script, stored hashed (`core.models.ApiToken`).

A secret is `mrd_` followed by 43 URL-safe characters from `secrets.token_urlsafe(32)` (256 random bits). Only its
SHA-256 digest is stored, with its first 12 characters as a non-secret `prefix` to recognise it by in lists. A plain
SHA-256 is enough (no slow hash, no salt, no HMAC pepper): a slow hash protects guessable passwords, and nobody
can guess 256 random bits, so a copy of the database is of no use to log in with. A pepper (an HMAC keyed by
SECRET_KEY) would add nothing against that copy but would stop every token the day the key is rotated. Lookups are
by the digest (a unique index), so no comparison of secrets happens in Python.

A token may be read-only (GET, HEAD and OPTIONS only; any other method is refused with 403 by
`meridian.core.api.authentication.ApiTokenAuthentication`) and may expire (the start of a chosen day in the
owner's time zone). `last_used_at` is written at most once a minute per token (`LAST_USED_EVERY`), not on every request.
Revoked tokens stay on record so that a script using one is told it was revoked; their name may be reused.

Writes go through `create_api_token`, `revoke_api_token` and `revoke_all_api_tokens`. Creating and revoking is
audited on the owner's person (or their login when they have no person record), like the grant of a login.
Only the owner creates a token for themselves; the owner or an administrator revokes one; an operator does both
with `meridian api_token` (as the system actor)."""

from __future__ import annotations

import datetime
import hashlib
import secrets
import zoneinfo
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from meridian.core import audit, policy
from meridian.core.choices import AuditAction, Role
from meridian.core.models import ApiToken, Person, User

SECRET_PREFIX = "mrd_"  # noqa: S105 - the marker every secret starts with, not a secret
PREFIX_LENGTH = 12  # "mrd_" and 8 characters of the random part: shown, never enough to use
LAST_USED_EVERY = datetime.timedelta(minutes=1)
NAME_MAX = ApiToken._meta.get_field("name").max_length or 100
MAX_LIFETIME = datetime.timedelta(days=3650)  # an expiry further away is a typing error (year 20270)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def digest_of(secret: str) -> str:
    """The stored form of a secret: its hex SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def active_tokens(user: Any) -> models.QuerySet[ApiToken]:
    """The tokens of a login that are not revoked (expired ones included, marked as such by the pages)."""
    pk = getattr(user, "pk", None)
    if pk is None:  # nobody (an anonymous user): no tokens
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user_id=pk, revoked_at__isnull=True)


def may_manage_tokens_of(actor: Any, owner: Any) -> bool:
    """The owner manages their own tokens; an administrator (or the command line, as the system actor) sees and
    revokes anyone's."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return bool(actor.pk == owner.pk or policy.is_system(actor) or Role.ADMINISTRATOR in policy.roles_of(actor))


def expiry_of(day: datetime.date, user: Any) -> datetime.datetime:
    """The moment a token chosen to expire on `day` stops working: the start of that day in the owner's zone."""
    zone = zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


def today_of(user: Any) -> datetime.date:
    zone = zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    return timezone.now().astimezone(zone).date()


def describe(token: ApiToken) -> str:
    """How the audit trail names a token: name, prefix and scope (never the secret)."""
    parts = [f"{token.prefix}…", "read-only" if token.read_only else "read and write"]
    if token.expires_at is not None:
        parts.append(f"expires {token.expires_at:%Y-%m-%d %H:%M %Z}")
    return f"{token.name} ({', '.join(parts)})"


def _audit_on(user: Any) -> Any:
    """Where a token's events go: the owner's person record (their History tab), else their login."""
    return Person.objects.filter(user_id=user.pk).first() or user


def create_api_token(
    user: User, *, name: str, expires_on: datetime.date | None = None, read_only: bool = False, actor: Any
) -> tuple[ApiToken, str]:
    """A new named token for the user's own scripts. Returns the token and its secret, to be shown once and never
    again. `name` is required and unique among the user's tokens that are not revoked; `expires_on`, when given,
    is a day after today in the user's time zone (the token stops working when that day begins). Only the user
    themselves, or an operator on the command line (`meridian api_token`, as the system actor), creates one."""
    if actor is None or (actor.pk != user.pk and not policy.is_system(actor)):
        raise PermissionDenied("You can create API tokens only for yourself.")
    if not user.is_active:
        raise PermissionDenied("This login is disabled: it cannot have API tokens.")
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the token a name, e.g. the script that will use it."
    elif len(name) > NAME_MAX:
        errors["name"] = f"At most {NAME_MAX} characters."
    elif active_tokens(user).filter(name__iexact=name).exists():
        errors["name"] = "You already have a token with this name: choose another, or revoke that one first."
    if expires_on is not None and expires_on <= today_of(user):
        errors["expires_on"] = "Choose a day after today, or leave it empty for a token that does not expire."
    elif expires_on is not None and expires_on > today_of(user) + MAX_LIFETIME:
        errors["expires_on"] = "Choose a day within ten years, or leave it empty for a token that does not expire."
    if errors:
        raise ValidationError(errors)
    secret = new_secret()
    token = ApiToken(
        user=user,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        digest=digest_of(secret),
        read_only=read_only,
        expires_at=expiry_of(expires_on, user) if expires_on else None,
    )
    try:
        with transaction.atomic():
            token.save(force_insert=True)
            audit.record_event(
                action=AuditAction.UPDATE,
                obj=_audit_on(user),
                actor=actor,
                changes={"api_token": {"before": None, "after": describe(token)}},
                reason="API token created" + (" on the command line" if policy.is_system(actor) else ""),
            )
    except IntegrityError as exc:  # the same name created at the same moment by another request
        raise ValidationError({"name": "You already have a token with this name: choose another."}) from exc
    return token, secret


def _by(actor: Any, owner_id: int) -> str:
    if actor.pk == owner_id:
        return ""
    return " on the command line" if policy.is_system(actor) else " by an administrator"


def revoke_api_token(token: ApiToken, *, actor: Any) -> ApiToken:
    """Revoke one token (its owner or an administrator): it stops working at once. Revoking a revoked token
    changes nothing."""
    if not may_manage_tokens_of(actor, token.user):
        raise PermissionDenied("You can revoke only your own API tokens.")
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        token.refresh_from_db(fields=["revoked_at"])
        if revoked:
            audit.record_event(
                action=AuditAction.UPDATE,
                obj=_audit_on(token.user),
                actor=actor,
                changes={"api_token": {"before": describe(token), "after": None}},
                reason="API token revoked" + _by(actor, token.user_id),
            )
    return token


def revoke_all_api_tokens(user: Any) -> int:
    """Revoke every token of a login whose account ends (the caller records the event, with the count)."""
    return active_tokens(user).update(revoked_at=timezone.now())


def touch(token: ApiToken, now: datetime.datetime) -> None:
    """Note that a token was used, at most once a minute: most requests write nothing."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=now - LAST_USED_EVERY)
    ).update(last_used_at=now)
    token.last_used_at = now


# --- tokens from before this feature ----------------------------------------------------------------------------

LEGACY_TABLE = "authtoken_token"  # Django REST framework's `rest_framework.authtoken`: one plaintext key per user
LEGACY_NAME = "Token from before the upgrade"


def _moment(value: Any) -> datetime.datetime:
    """A timestamp read by raw SQL (a string on SQLite), as an aware datetime."""
    from django.utils.dateparse import parse_datetime

    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        return timezone.now()
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, datetime.UTC)


def adopt_drf_tokens(token_model: Any, connection: Any) -> int:
    """Upgrade step (migration 0017): every key of DRF's plaintext token table becomes a hashed `ApiToken` of the
    same user (read and write, no expiry, named `LEGACY_NAME`), so that scripts keep working with the key they
    have; then the plaintext table is dropped. Returns the number adopted; nothing to do on a new database."""
    if LEGACY_TABLE not in connection.introspection.table_names():
        return 0
    table = connection.ops.quote_name(LEGACY_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {table}")  # noqa: S608
        rows = cursor.fetchall()
    adopted = [
        token_model(
            user_id=user_id,
            name=LEGACY_NAME,
            prefix=key[:8],
            digest=digest_of(key),
            created_at=_moment(created),
        )
        for key, user_id, created in rows
    ]
    token_model.objects.bulk_create(adopted)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    return len(adopted)
