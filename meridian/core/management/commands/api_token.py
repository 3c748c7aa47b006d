"""`meridian api_token create|list|revoke USERNAME ...`: a login's API tokens from the command line (what DRF's
`drf_create_token` did before named tokens), acting as the system actor so that the audit trail says so."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from meridian.core import api_tokens, services


class Command(BaseCommand):
    help = (
        "A login's API tokens: `create USERNAME --name NAME [--read-only] [--expires-on YYYY-MM-DD]` prints the new "
        "secret (once); `list USERNAME` shows the tokens (never their secrets); `revoke USERNAME NAME` revokes one."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        create = sub.add_parser("create", help="Create a token and print its secret, once.")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="Unique among the login's tokens, e.g. the script.")
        create.add_argument("--read-only", action="store_true", help="GET, HEAD and OPTIONS only.")
        create.add_argument("--expires-on", metavar="YYYY-MM-DD", help="The token stops working when it begins.")
        listing = sub.add_parser("list", help="List a login's tokens that are not revoked.")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="Revoke a login's token by its name.")
        revoke.add_argument("username")
        revoke.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No login is called {options['username']!r}.")
        getattr(self, f"_{options['subcommand']}")(user, options)

    def _create(self, user: Any, options: dict[str, Any]) -> None:
        expires_on = None
        if options.get("expires_on"):
            try:
                expires_on = datetime.date.fromisoformat(options["expires_on"])
            except ValueError as exc:
                raise CommandError("--expires-on takes a date such as 2027-01-31.") from exc
        try:
            token, secret = api_tokens.create_api_token(
                user,
                name=options["name"],
                expires_on=expires_on,
                read_only=options["read_only"],
                actor=services.get_system_actor(),
            )
        except ValidationError as exc:
            raise CommandError(" ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stderr.write(f"Token {token} of {user.username}: copy the secret now, it is not shown again.")
        self.stdout.write(secret)

    def _list(self, user: Any, options: dict[str, Any]) -> None:
        for token in api_tokens.active_tokens(user):
            scope = "read-only" if token.read_only else "read-write"
            expires = f"{token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M} UTC" if token.last_used_at else "never"
            self.stdout.write(f"{token.prefix}…\t{scope}\texpires {expires}\tlast used {used}\t{token.name}")

    def _revoke(self, user: Any, options: dict[str, Any]) -> None:
        token = api_tokens.active_tokens(user).filter(name=options["name"]).first()
        if token is None:
            raise CommandError(f"{user.username} has no token named {options['name']!r} that is not revoked.")
        api_tokens.revoke_api_token(token, actor=services.get_system_actor())
        self.stdout.write(f"Revoked {token}.")
