"""The API of followers (`core.watchers`), added to the viewset of every type that opts in:

- `POST   /api/v1/<app>/<plural>/{id}/follow/`: you follow the record (201; 200 when you already did); no body;
- `DELETE /api/v1/<app>/<plural>/{id}/follow/`: you stop following it (204, also when you did not follow it);
- `GET    /api/v1/<app>/<plural>/{id}/watchers/`: who follows it and why (staff); a customer user sees only
  themself.

The record is looked up in the caller's restricted queryset first: a record they may not see is 404 on every
route (403 for a role that may not read the type at all, as on the record's own routes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from meridian.core import policy, watchers
from meridian.core.models import Watch

ENDPOINTS = ("follow", "watchers")  # the viewset's action names


class WatcherSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A follower of the record (documentation only: `_row` builds the data)."""

    person = serializers.IntegerField(help_text="The person's id.")
    name = serializers.CharField(help_text="The person's name, or “hidden” when you may not see them.")
    reason = serializers.CharField(help_text="manual (by choice), or the field that names them: lead, ...")
    reason_label = serializers.CharField()
    since = serializers.DateTimeField()
    you = serializers.BooleanField(help_text="The follower is you.")


class FollowSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Your following of the record."""

    following = serializers.BooleanField()
    reason = serializers.CharField()
    since = serializers.DateTimeField()


def _row(watch: Watch, user: Any, record_type: Any) -> dict[str, Any]:
    return {
        "person": watch.person_id,
        "name": policy.shown(user, watch.person),
        "reason": watch.reason,
        "reason_label": watchers.reason_label(record_type, watch.reason),
        "since": watch.created_at,
        "you": watch.person.user_id == user.pk,
    }


def _refuse_body(request: Request) -> None:
    """No input is taken: any field sent is refused by name (nothing is written)."""
    data = request.data
    if isinstance(data, Mapping) and data:
        raise ApiValidationError({str(name): ["Unknown field: following takes no input."] for name in data})
    if not isinstance(data, Mapping) and data:
        raise ApiValidationError({"non_field_errors": ["Send no body, or an empty JSON object."]})


def endpoints() -> dict[str, Any]:
    """The two actions added to the viewset of a type with watchers: `follow` and `watchers`."""

    def follow(self: Any, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()  # 404 outside the caller's records
        self._etag_instance = None  # the answer is the following, not the record
        if request.method == "DELETE":
            watchers.unfollow(obj, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        _refuse_body(request)
        try:
            watch, made = watchers.follow(obj, actor=request.user)
        except ValidationError as exc:
            raise ApiValidationError(exc.message_dict) from exc
        body = {"following": True, "reason": watch.reason, "since": watch.created_at}
        return Response(body, status=status.HTTP_201_CREATED if made else status.HTTP_200_OK)

    def listing(self: Any, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        self._etag_instance = None
        return Response([_row(w, request.user, self.record_type) for w in watchers.watchers_for(obj, request.user)])

    follow.__name__, listing.__name__ = "follow", "watchers"  # DRF routes an action by its function's name
    routed_follow = action(
        detail=True, methods=["post", "delete"], url_path="follow", url_name="follow", filter_backends=[]
    )(follow)
    routed_follow = extend_schema(
        methods=["POST"],
        request=None,
        responses={201: FollowSerializer, 200: FollowSerializer},
        summary="Follow",
        description="You follow the record: a mail about each change you may read. 201 when you start following, "
        "200 when you already did (your first reason stays). No body; a field sent is refused by name (400). "
        "Needs a person linked to your login (400 on `person` otherwise).",
    )(routed_follow)
    routed_follow = extend_schema(
        methods=["DELETE"],
        responses={204: None},
        summary="Unfollow",
        description="You stop following the record (204, also when you did not follow it).",
    )(routed_follow)
    routed_listing = action(
        detail=True,
        methods=["get"],
        url_path="watchers",
        url_name="watchers",
        pagination_class=None,  # a record's followers are few
        filter_backends=[],
    )(listing)
    routed_listing = extend_schema(
        responses=WatcherSerializer(many=True),
        summary="Followers",
        description="Who follows the record and why, oldest first. Staff see every follower; a customer user sees "
        "only themself.",
    )(routed_listing)
    return {"follow": routed_follow, "watchers": routed_listing}
