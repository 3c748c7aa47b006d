"""The "API tokens" page (`core.api_tokens`): a person's tokens (name, prefix, scope, created, expires, last used,
Revoke), the form that creates one (its secret shown once, with a copy button), and revoking, by the owner or by an
administrator from the person's Login tab."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from meridian.core import api_tokens
from meridian.core.forms import ApiTokenForm
from meridian.core.models import ApiToken, Person


def _page(request: HttpRequest, form: ApiTokenForm, *, status: int = 200, **extra: Any) -> HttpResponse:
    tokens = list(api_tokens.active_tokens(request.user))
    context = {"form": form, "tokens": tokens, "now": timezone.now(), **extra}
    response = render(request, "core/api_tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may carry a new secret
    return response


@login_required
def api_tokens_page(request: HttpRequest) -> HttpResponse:
    """GET: your tokens and the form for a new one. POST: create one; the page then shows its secret, once."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    if request.method != "POST":
        return _page(request, ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        token, secret = api_tokens.create_api_token(
            request.user,  # type: ignore[arg-type]
            name=form.cleaned_data["name"],
            expires_on=form.cleaned_data["expires_on"],
            read_only=form.cleaned_data["read_only"],
            actor=request.user,
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _page(request, form, status=400)
    return _page(request, ApiTokenForm(), new_token=token, secret=secret)


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a token: your own, or (as an administrator) anyone's; any other token is 404."""
    token = ApiToken.objects.select_related("user").filter(pk=pk, revoked_at__isnull=True).first()
    if token is None or not api_tokens.may_manage_tokens_of(request.user, token.user):
        raise Http404
    api_tokens.revoke_api_token(token, actor=request.user)
    if token.user_id == request.user.pk:
        messages.success(request, f"The token “{token.name}” is revoked: scripts using it no longer work.")
        return HttpResponseRedirect(reverse("api_tokens"))
    messages.success(request, f"The token “{token.name}” of {token.user.get_username()} is revoked.")
    person = Person.objects.filter(user_id=token.user_id).first()
    return HttpResponseRedirect(f"{person.get_absolute_url()}?tab=login" if person else reverse("api_tokens"))
