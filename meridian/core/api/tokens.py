"""API tokens in the REST API (`meridian.core.api_tokens`; the authentication class is in
`meridian.core.api.authentication`, its OpenAPI security scheme here):

- `GET /api/v1/me/api-tokens/`: your tokens that are not revoked; `POST` creates one (`name`, optional
  `expires_on`, optional `read_only`) and answers with its `secret`, shown this once;
  `DELETE /api/v1/me/api-tokens/{id}/` revokes one of yours (another person's token is 404)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.core import api_tokens
from meridian.core.models import ApiToken


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """The OpenAPI security scheme of `ApiTokenAuthentication`."""

    target_class = "meridian.core.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A personal API token, created on the API tokens page (or `POST /api/v1/me/api-tokens/`): send "
                "`Authorization: Token <secret>` (or `Bearer <secret>`). A read-only token may only use GET, HEAD "
                "and OPTIONS; an expired or revoked token is refused with 401."
            ),
        }


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    """A token as its owner sees it: never the secret, except once in the answer to its creation."""

    expires_on = serializers.DateField(
        write_only=True,
        required=False,
        allow_null=True,
        help_text="The token stops working when this day begins in your time zone; empty: it does not expire.",
    )
    expired = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "read_only",
            "expires_on",
            "expires_at",
            "expired",
            "created_at",
            "last_used_at",
        ]
        read_only_fields = ["id", "prefix", "expires_at", "expired", "created_at", "last_used_at"]
        extra_kwargs = {"name": {"help_text": "Unique among your tokens, e.g. the script that uses it."}}

    def get_expired(self, token: ApiToken) -> bool:
        return token.is_expired()


class NewApiTokenSerializer(ApiTokenSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown only in this answer: copy it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "secret"]


class ApiTokenListView(APIView):
    """Your API tokens (not revoked), and creating a new one."""

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        tokens = api_tokens.active_tokens(request.user)
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(request=ApiTokenSerializer, responses={201: NewApiTokenSerializer})
    def post(self, request: Request) -> Response:
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, secret = api_tokens.create_api_token(
            request.user,  # type: ignore[arg-type]
            name=data["name"],
            expires_on=data.get("expires_on"),
            read_only=data.get("read_only", False),
            actor=request.user,
        )
        body = NewApiTokenSerializer(token).data | {"secret": secret}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class ApiTokenDetailView(APIView):
    """Revoke one of your API tokens."""

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        with transaction.atomic():
            token = api_tokens.active_tokens(request.user).filter(pk=pk).first()
            if token is None:
                raise Http404
            api_tokens.revoke_api_token(token, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
