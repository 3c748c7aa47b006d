"""`/api/v1/core/saved-views/`: the caller's own saved views and those shared with them (`core.saved_views`),
filtered by `record_type`; create, change (own views, version-checked), delete (own views). Another person's
view that is not shared with the caller is 404. Applying a view to a type's API list is `?view=<id>` there
(`RecordViewSet.filter_queryset`)."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from meridian.core import policy, saved_views
from meridian.core.models import DefaultView, SavedView
from meridian.core.registry import VIEW


class SavedViewSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    record_type = serializers.CharField(help_text="The list's type, such as `core.organisation`.")
    name = serializers.CharField(max_length=saved_views.NAME_MAX)
    query = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The list's filters and sort as its query string, such as `kind=customer&sort=-name`.",
    )
    columns = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Column names of the list, in order; empty: each reader's own columns.",
    )
    sharing = serializers.ChoiceField(choices=SavedView.SHARING_CHOICES, required=False)
    team = serializers.IntegerField(
        source="team_id", required=False, allow_null=True, help_text="The team it is shared with."
    )
    is_default = serializers.BooleanField(
        required=False, help_text="The list of this type opens with it for you (any view you may open)."
    )
    owner = serializers.CharField(source="owner.username", read_only=True)
    url = serializers.SerializerMethodField(help_text="The list page showing the view.")
    missing_filters = serializers.SerializerMethodField(
        help_text="Filters the view names that the list no longer has for you (left out when applied)."
    )
    version = serializers.IntegerField(required=False, help_text="Required to change a view: the version you read.")

    class Meta:
        model = SavedView
        fields = [
            "id",
            "record_type",
            "name",
            "query",
            "columns",
            "sharing",
            "team",
            "show_on_home",
            "is_default",
            "owner",
            "url",
            "missing_filters",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def _once(self, key: str, make: Any) -> Any:
        """What every row of one answer shares (the reader's defaults, a type's filters), made for its first row:
        a list of views costs the same queries however long it is."""
        shared = cast(dict[str, Any], self.context).setdefault("saved_views", {})
        if key not in shared:
            shared[key] = make()
        return shared[key]

    def to_representation(self, instance: SavedView) -> dict[str, Any]:
        data = super().to_representation(instance)
        user = self.context["request"].user
        defaults = self._once(
            "defaults", lambda: set(DefaultView.objects.filter(user_id=user.pk).values_list("view_id", flat=True))
        )
        data["is_default"] = instance.pk in defaults
        return data

    def get_url(self, obj: SavedView) -> str:
        return saved_views.view_url(saved_views.type_of(obj.record_type), obj)

    def get_missing_filters(self, obj: SavedView) -> list[str]:
        rt = saved_views.type_of(obj.record_type)
        user = self.context["request"].user
        keys = self._once(f"keys:{rt.label}", lambda: saved_views.filter_keys(rt, user))
        return saved_views.missing_filters(rt, user, obj, keys)


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("record_type", str, description="Only views of this type (`core.person`).")],
        description="Your saved views and those shared with you (with a team of yours, or with everyone).",
    ),
    create=extend_schema(
        description="Save a view. Sharing with a team: a member of it (or an administrator); with everyone: "
        "administrators only. Refused input is a 400 naming the field; nothing is written."
    ),
    partial_update=extend_schema(description="Change a view of your own; `version` required (409 when stale)."),
    update=extend_schema(description="Change a view of your own; `version` required (409 when stale)."),
    destroy=extend_schema(
        parameters=[OpenApiParameter("version", int, description="The version you read (409 when stale).")],
        description="Delete a view of your own.",
    ),
)
class SavedViewViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    serializer_class = SavedViewSerializer
    permission_classes = [permissions.IsAuthenticated]
    queryset = SavedView.objects.none()

    def get_queryset(self) -> Any:
        queryset = saved_views.visible_views(self.request.user).order_by("record_type", "name", "id")
        wanted = self.request.query_params.get("record_type")
        if wanted:
            queryset = queryset.filter(record_type=wanted)
        return queryset

    def _stale(self, exc: saved_views.StaleView) -> Response:
        current = self.get_serializer(exc.current).data
        return Response({"detail": str(exc), "current": current}, status=status.HTTP_409_CONFLICT)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rt = saved_views.type_of(data["record_type"])
        if not policy.has_role_permission(request.user, VIEW, rt.model):  # a type they may not read is no type
            raise ValidationError({"record_type": [f"Not a record type: {rt.label}."]})
        view = saved_views.save_view(
            rt,
            request.user,
            name=data["name"],
            query=data.get("query", ""),
            columns=data.get("columns") or [],
            sharing=data.get("sharing") or SavedView.PRIVATE,
            team=data.get("team_id"),
            default=data.get("is_default", False),
            show_on_home=data.get("show_on_home", False),
        )
        return Response(self.get_serializer(view).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        view = self.get_object()
        serializer = self.get_serializer(view, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "record_type" in data and data["record_type"] != view.record_type:
            raise ValidationError({"record_type": ["A view stays a view of its type."]})
        rt = saved_views.type_of(view.record_type)
        if "is_default" in data:  # the reader's own choice, of any view they may open: no version needed
            saved_views.set_default(rt, request.user, view if data["is_default"] else None)
        changes = {
            name: data[key]
            for name, key in (
                ("name", "name"),
                ("query", "query"),
                ("columns", "columns"),
                ("sharing", "sharing"),
                ("team", "team_id"),
                ("show_on_home", "show_on_home"),
            )
            if key in data
        }
        if changes:
            if "version" not in data:
                raise ValidationError({"version": ["Send the version of the view you read."]})
            try:
                view = saved_views.update_view(view, request.user, expected_version=data["version"], **changes)
            except saved_views.StaleView as exc:
                return self._stale(exc)
        return Response(self.get_serializer(view).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        view = self.get_object()
        body = request.data if isinstance(request.data, dict) else {}
        raw = request.query_params.get("version") or body.get("version")
        try:
            version = int(raw) if raw is not None else None
        except (TypeError, ValueError):
            version = None
        if version is None:
            raise ValidationError({"version": ["Send the version of the view you read (?version=N)."]})
        try:
            saved_views.delete_view(view, request.user, expected_version=version)
        except saved_views.StaleView as exc:
            return self._stale(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)
