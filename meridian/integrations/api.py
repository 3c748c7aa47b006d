"""The monitoring webhooks (`integrations.alerts`): `POST /api/v1/integrations/alertmanager/<slug>/` takes Prometheus
Alertmanager's webhook body (version 4), `POST /api/v1/integrations/webhooks/<slug>/` any JSON body, read through the
source's field mapping. Authenticated by an API token only (`Authorization: Bearer <secret>`)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from meridian.core.api.authentication import ApiTokenAuthentication
from meridian.integrations import alerts, webhooks
from meridian.integrations.alert_models import AlertGroupStatus, AlertSource, AlertSourceKind


class NoReceiver(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "No process receives alerts here."
    default_code = "no_receiver"


# --- OpenAPI descriptions only (the bodies are read by `webhooks`, field by field) -------------------------------


class AlertmanagerAlertSerializer(serializers.Serializer):  # type: ignore[type-arg]
    status = serializers.ChoiceField(choices=AlertGroupStatus.choices)
    labels = serializers.DictField(child=serializers.CharField())
    annotations = serializers.DictField(child=serializers.CharField())
    startsAt = serializers.DateTimeField()
    endsAt = serializers.DateTimeField(help_text="0001-01-01T00:00:00Z: no end yet.")
    generatorURL = serializers.CharField(allow_blank=True)
    fingerprint = serializers.CharField(
        help_text="Identifies the alert: an alert already firing is not announced again."
    )


class AlertmanagerBodySerializer(serializers.Serializer):  # type: ignore[type-arg]
    version = serializers.ChoiceField(choices=["4"])
    groupKey = serializers.CharField(help_text="One incident per group key.")
    truncatedAlerts = serializers.IntegerField(min_value=0)
    status = serializers.ChoiceField(choices=AlertGroupStatus.choices)
    receiver = serializers.CharField()
    groupLabels = serializers.DictField(child=serializers.CharField())
    commonLabels = serializers.DictField(child=serializers.CharField())
    commonAnnotations = serializers.DictField(child=serializers.CharField())
    externalURL = serializers.CharField(allow_blank=True)
    alerts = AlertmanagerAlertSerializer(many=True)


class OutcomeRecordSerializer(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField(help_text="The record's type, e.g. tickets.incident.")
    id = serializers.IntegerField()
    reference = serializers.CharField(allow_null=True)
    url = serializers.CharField()


class OutcomeGroupSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AlertGroupStatus.choices)
    firing = serializers.IntegerField(help_text="Alerts of the group firing now.")


class OutcomeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    result = serializers.ChoiceField(choices=["opened", "updated", "resolved", "unchanged", "replayed"])
    group = OutcomeGroupSerializer()
    record = OutcomeRecordSerializer(allow_null=True)


ERRORS = {
    400: OpenApiResponse(
        description="The body is refused: each problem by its JSON path, e.g. "
        "{“alerts[0].fingerprint”: [“This field is required.”]}. Nothing is stored."
    ),
    401: OpenApiResponse(description="No API token, or not a valid one."),
    403: OpenApiResponse(
        description="The token's login may not open incidents, the token is read-only, or the source is switched off."
    ),
    404: OpenApiResponse(description="No alert source of this kind has this slug."),
    503: OpenApiResponse(description="No process app receives alerts (none registered a handler)."),
}
RULES = (
    " One record (an incident) per alert group, while it is open; a delivery whose alerts changed adds a work note "
    "listing them; an alert already firing is not announced again (by fingerprint); when none fires any more the "
    "incident is resolved, and a later firing opens a new one. The same body delivered again (a retry) changes "
    "nothing: `result` is `replayed`. The CI named by the source's CI labels is linked. Needs an API token whose "
    "login may open incidents (a service desk agent)."
)


class _Receiver(APIView):
    authentication_classes = [ApiTokenAuthentication]
    kind: str = ""

    def read(self, body: Any, source: AlertSource) -> webhooks.Delivery:
        raise NotImplementedError

    def post(self, request: Request, slug: str) -> Response:
        source = get_object_or_404(AlertSource, slug=slug, kind=self.kind)
        try:
            alerts.require_receiver(source, request.user)  # before reading: a refused caller learns nothing
            delivery = self.read(request.data, source)
            outcome = alerts.receive(source, delivery, actor=request.user)
        except webhooks.PayloadError as exc:
            raise ValidationError(exc.errors) from exc
        except alerts.NoHandler as exc:
            raise NoReceiver(str(exc)) from exc
        except alerts.SourceInactive as exc:
            raise PermissionDenied(str(exc)) from exc
        return Response(OutcomeSerializer(outcome.as_json()).data)


class AlertmanagerView(_Receiver):
    kind = AlertSourceKind.ALERTMANAGER

    def read(self, body: Any, source: AlertSource) -> webhooks.Delivery:
        return webhooks.read_alertmanager(body)

    @extend_schema(
        operation_id="integrations_alertmanager_receive",
        request=AlertmanagerBodySerializer,
        responses={200: OutcomeSerializer, **ERRORS},
        summary="Receive a Prometheus Alertmanager notification",
        description="Alertmanager's webhook body, version 4 "
        "(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config), for the alert source `slug` "
        "(kind alertmanager). Every field the format defines is required with its JSON type; fields it does not "
        "define are ignored." + RULES,
        tags=["integrations"],
        examples=[
            OpenApiExample(
                "A firing alert",
                request_only=True,
                value={
                    "version": "4",
                    "groupKey": '{}:{alertname="HostDown"}',
                    "truncatedAlerts": 0,
                    "status": "firing",
                    "receiver": "meridian",
                    "groupLabels": {"alertname": "HostDown"},
                    "commonLabels": {"alertname": "HostDown", "instance": "db1:9100", "severity": "critical"},
                    "commonAnnotations": {"summary": "db1 is down"},
                    "externalURL": "http://alertmanager:9093",
                    "alerts": [
                        {
                            "status": "firing",
                            "labels": {"alertname": "HostDown", "instance": "db1:9100", "severity": "critical"},
                            "annotations": {"summary": "db1 is down"},
                            "startsAt": "2026-12-01T09:30:00Z",
                            "endsAt": "0001-01-01T00:00:00Z",
                            "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
                            "fingerprint": "c6eadffa33fcdf37",
                        }
                    ],
                },
            )
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        return super().post(request, slug)


class GenericWebhookView(_Receiver):
    kind = AlertSourceKind.GENERIC

    def read(self, body: Any, source: AlertSource) -> webhooks.Delivery:
        return webhooks.read_generic(body, source)

    @extend_schema(
        operation_id="integrations_webhook_receive",
        request={"application/json": {"type": "object", "description": "Any JSON body the source's mapping reads."}},
        responses={200: OutcomeSerializer, **ERRORS},
        summary="Receive a monitoring alert as any JSON body",
        description="A JSON body for the alert source `slug` (kind generic), read through its field mapping: the "
        "group key and status of each alert are required, the rest optional; a status must be one of the "
        "mapping's firing or resolved values. Without a fingerprint an alert is known by its labels." + RULES,
        tags=["integrations"],
    )
    def post(self, request: Request, slug: str) -> Response:
        return super().post(request, slug)
