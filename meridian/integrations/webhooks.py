"""Reading monitoring deliveries into `Delivery` values (`integrations.alerts` applies them): Prometheus
Alertmanager's webhook body, version 4, checked field by field against its documentation
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config), and any JSON body through a generic
source's field mapping. Both either give a whole `Delivery` or raise `PayloadError` with every problem by JSON path;
nothing is stored for a refused body."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from meridian.integrations.alert_models import MAPPING_VALUE_LISTS, AlertSource

FIRING, RESOLVED = "firing", "resolved"
STATUSES = (FIRING, RESOLVED)
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: Alertmanager's endsAt of an alert without an end
MAX_TEXT = 100_000


class PayloadError(Exception):
    """A delivery that is refused: `errors` maps each JSON path (“alerts[2].fingerprint”) to its problems."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Alert:
    """One alert of a delivery, whatever the tool."""

    fingerprint: str
    status: str  # "firing" or "resolved"
    labels: dict[str, str]
    annotations: dict[str, str]
    title: str
    description: str = ""
    severity: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    url: str = ""

    @property
    def firing(self) -> bool:
        return self.status == FIRING


@dataclass(frozen=True)
class Delivery:
    """One webhook call: the group it is about, the group's status, its alerts, and the digest that makes a replay
    of the same body recognisable."""

    group_key: str
    status: str
    alerts: list[Alert]
    digest: str
    title: str
    description: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""
    truncated_alerts: int = 0
    complete: bool = True  # the body lists every alert of the group: one left out is no longer firing

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.firing]

    @property
    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if not a.firing]


def digest_of(body: Any) -> str:
    """SHA-256 of the body as canonical JSON (keys sorted): the same content gives the same digest, whitespace and
    key order aside."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def labels_fingerprint(labels: dict[str, str]) -> str:
    """A fingerprint for a tool that sends none: 16 hex digits of the SHA-256 of the sorted labels (Alertmanager's
    fingerprints are a hash of the label set too)."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


class _Errors:
    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.found.setdefault(path, []).append(message)

    def raise_any(self) -> None:
        if self.found:
            raise PayloadError(self.found)


def _rfc3339(value: str) -> datetime:
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError
    parsed = datetime.fromisoformat(value)  # Go's nanoseconds are cut to microseconds
    if parsed.tzinfo is None:
        raise ValueError
    return parsed


def _title(annotations: dict[str, str], labels: dict[str, str], fallback: str = "") -> str:
    name = labels.get("alertname", "")
    text = annotations.get("summary") or annotations.get("title") or name or fallback or "Alert"
    target = next((labels[k] for k in ("instance", "service", "job") if labels.get(k)), "")
    if target and target not in text:
        text = f"{text} ({target})"
    return text[:200]


# --- Alertmanager, webhook version 4 --------------------------------------------------------------------------------

TOP_FIELDS: dict[str, str] = {
    "version": "text “4”",
    "groupKey": "text",
    "truncatedAlerts": "a whole number",
    "status": "“firing” or “resolved”",
    "receiver": "text",
    "groupLabels": "an object of text values",
    "commonLabels": "an object of text values",
    "commonAnnotations": "an object of text values",
    "externalURL": "text",
    "alerts": "a list of alerts",
}
ALERT_FIELDS: dict[str, str] = {
    "status": "“firing” or “resolved”",
    "labels": "an object of text values",
    "annotations": "an object of text values",
    "startsAt": "an RFC 3339 time",
    "endsAt": "an RFC 3339 time",
    "generatorURL": "text",
    "fingerprint": "text",
}


def _check_string_map(errors: _Errors, path: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        errors.add(path, "Must be a JSON object of text values.")
        return {}
    bad = sorted(str(k) for k, v in value.items() if not isinstance(v, str))
    if bad:
        errors.add(path, f"Must be a JSON object of text values: {', '.join(bad)} is not text.")
        return {}
    return dict(value)


def _check_field(errors: _Errors, path: str, value: Any, kind: str) -> Any:
    if kind.startswith("text") and not isinstance(value, str):
        errors.add(path, f"Must be {kind}.")
    elif kind.startswith("text") and len(value) > MAX_TEXT:
        errors.add(path, f"Too long: at most {MAX_TEXT:,} characters.")
    elif kind == "“firing” or “resolved”" and value not in STATUSES:
        errors.add(path, f"Must be {kind}, not {json.dumps(value)[:50]}.")
    elif kind == "a whole number" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        errors.add(path, "Must be a whole number of at least 0 (a JSON integer).")
    elif kind == "an object of text values":
        return _check_string_map(errors, path, value)
    elif kind == "an RFC 3339 time":
        try:
            return None if value == ZERO_TIME else _rfc3339(value)
        except (ValueError, TypeError):
            errors.add(path, f"Must be an RFC 3339 time such as 2026-12-01T09:30:00Z, not {json.dumps(value)[:50]}.")
    return value


def read_alertmanager(body: Any) -> Delivery:
    """An Alertmanager webhook body (version 4) as a `Delivery`. Every field the documentation defines is required
    with its JSON type (a body from an Alertmanager older than 0.21, without `truncatedAlerts`, or without per-alert
    `status` and `fingerprint`, is refused: send it to a generic source instead); fields it does not define are
    ignored, as later versions may add some. The group's status must agree with its alerts'."""
    errors = _Errors()
    if not isinstance(body, dict):
        raise PayloadError({"body": ["Must be a JSON object: the Alertmanager webhook body (version 4)."]})
    values: dict[str, Any] = {}
    for name, kind in TOP_FIELDS.items():
        if name not in body:
            errors.add(name, "This field is required.")
            continue
        values[name] = _check_field(errors, name, body[name], kind)
    if "version" in values and values["version"] != "4" and "version" not in errors.found:
        errors.add("version", f"Only version “4” of the webhook body is read, not {json.dumps(values['version'])}.")
    if isinstance(values.get("groupKey"), str) and not values["groupKey"].strip():
        errors.add("groupKey", "Must not be empty: it names the alert group.")
    alerts: list[Alert] = []
    raw_alerts = values.get("alerts")
    if "alerts" in values and (not isinstance(raw_alerts, list) or not raw_alerts):
        errors.add("alerts", "Must be a list of one or more alerts.")
    elif isinstance(raw_alerts, list):
        seen: dict[str, int] = {}
        for number, raw in enumerate(raw_alerts):
            alert = _read_alert(errors, f"alerts[{number}]", raw)
            if alert is None:
                continue
            if alert.fingerprint in seen:
                errors.add(
                    f"alerts[{number}].fingerprint", f"The same as alerts[{seen[alert.fingerprint]}]'s: each once."
                )
            seen[alert.fingerprint] = number
            alerts.append(alert)
    if not errors.found and values["status"] != (FIRING if any(a.firing for a in alerts) else RESOLVED):
        errors.add(
            "status",
            "Must be “firing” while any alert fires and “resolved” when none does: "
            f"{len([a for a in alerts if a.firing])} of {len(alerts)} alerts fire.",
        )
    errors.raise_any()
    annotations, group_labels = values["commonAnnotations"], values["groupLabels"]
    title = annotations.get("summary") or (alerts[0].title if len(alerts) == 1 else "")
    if not title:
        title = ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items())) or "Alerts"
    return Delivery(
        group_key=values["groupKey"],
        status=values["status"],
        alerts=alerts,
        digest=digest_of(body),
        title=title[:200],
        description=annotations.get("description", ""),
        group_labels=group_labels,
        common_labels=values["commonLabels"],
        external_url=values["externalURL"],
        truncated_alerts=values["truncatedAlerts"],
        complete=values["truncatedAlerts"] == 0,
    )


def _read_alert(errors: _Errors, path: str, raw: Any) -> Alert | None:
    if not isinstance(raw, dict):
        errors.add(path, "Must be a JSON object: one alert.")
        return None
    before = len(errors.found)
    values: dict[str, Any] = {}
    for name, kind in ALERT_FIELDS.items():
        if name not in raw:
            errors.add(f"{path}.{name}", "This field is required.")
            continue
        values[name] = _check_field(errors, f"{path}.{name}", raw[name], kind)
    if isinstance(values.get("fingerprint"), str) and not values["fingerprint"].strip():
        errors.add(f"{path}.fingerprint", "Must not be empty: it identifies the alert.")
    if len(errors.found) > before:
        return None
    labels, annotations = values["labels"], values["annotations"]
    return Alert(
        fingerprint=values["fingerprint"],
        status=values["status"],
        labels=labels,
        annotations=annotations,
        title=_title(annotations, labels),
        description=annotations.get("description", ""),
        severity=labels.get("severity", ""),
        starts_at=values["startsAt"],
        ends_at=values["endsAt"],
        url=values["generatorURL"],
    )


# --- a generic JSON webhook, through the source's mapping ------------------------------------------------------------

_MISSING = object()


def _at(document: Any, path: str) -> Any:
    """The value at a dotted path (`labels.instance`, `alerts.0.status`), or _MISSING."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _read(body: Any, alert: Any, path: str) -> Any:
    """A mapping path: from the body (`$`, `$.x.y`) or from the alert (`x.y`)."""
    if path == "$":
        return body
    if path.startswith("$."):
        return _at(body, path[2:])
    return _at(alert, path)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    return str(value) if isinstance(value, str | int | float) else None


def _path_of(path: str, at: str) -> str:
    """A mapping path as the JSON path of an error: `$.groupKey` is `groupKey`, `status` of the third alert is
    `alerts[2].status`."""
    if path.startswith("$"):
        return path.removeprefix("$").removeprefix(".") or "body"
    return f"{at}.{path}" if at else path


def read_generic(body: Any, source: AlertSource) -> Delivery:
    """A JSON body read through `source.mapping` (see `alert_models.MAPPING_PATHS`). Each alert must give a group
    key and a status among the mapping's firing or resolved values (case aside); without a `fingerprint` path an
    alert's fingerprint is a digest of its labels (else of its title). A delivery is about one group: alerts of
    several group keys in one body are refused."""
    mapping: dict[str, Any] = source.mapping
    errors = _Errors()
    if not isinstance(body, dict | list):
        raise PayloadError({"body": ["Must be a JSON object or list."]})
    if "alerts" in mapping:
        items = _read(body, body, mapping["alerts"] if mapping["alerts"].startswith("$") else "$." + mapping["alerts"])
        if not isinstance(items, list) or not items:
            raise PayloadError({mapping["alerts"]: ["Must be a list of one or more alerts (the mapping's “alerts”)."]})
        where = mapping["alerts"].removeprefix("$.").removeprefix("$")
    else:
        items, where = [body], ""
    values = {
        name: [str(v).strip().lower() for v in mapping.get(name, default)]
        for name, default in MAPPING_VALUE_LISTS.items()
    }
    alerts: list[Alert] = []
    keys: set[str] = set()
    seen: set[str] = set()
    for number, item in enumerate(items):
        at = f"{where}[{number}]" if where else ""

        def path_of(name: str, at: str = at) -> str:
            return _path_of(mapping[name], at)

        def text(name: str, required: bool = False, item: Any = item) -> str:
            if name not in mapping:
                return ""
            value = _read(body, item, mapping[name])
            if value is _MISSING or value is None:
                if required:
                    errors.add(path_of(name), f"Missing: the mapping's “{name}” is read here.")
                return ""
            found = _text(value)
            if found is None:
                errors.add(path_of(name), f"Must be text or a number (the mapping's “{name}”).")
                return ""
            return found[:MAX_TEXT]

        group_key = text("group_key", required=True)
        if not group_key.strip() and path_of("group_key") not in errors.found:
            errors.add(path_of("group_key"), "Must not be empty: it names the alert group.")
        status = text("status", required=True).strip().lower()
        if status and status not in values["firing_values"] + values["resolved_values"]:
            errors.add(
                path_of("status"),
                f"“{status}” is neither a firing value ({', '.join(values['firing_values'])}) nor a resolved one "
                f"({', '.join(values['resolved_values'])}).",
            )
        labels: dict[str, str] = {}
        if "labels" in mapping:
            raw_labels = _read(body, item, mapping["labels"])
            if raw_labels is not _MISSING and raw_labels is not None:
                if isinstance(raw_labels, dict):
                    labels = {str(k): t for k, v in raw_labels.items() if (t := _text(v)) is not None}
                else:
                    errors.add(path_of("labels"), "Must be a JSON object (the mapping's “labels”).")
        title = text("title")
        description = text("description")
        severity = text("severity")
        url = text("url")
        starts_at = None
        if raw_start := text("starts_at"):
            try:
                starts_at = _rfc3339(raw_start)
            except ValueError:
                errors.add(path_of("starts_at"), "Must be an ISO 8601 time with its offset, e.g. 2026-12-01T09:30Z.")
        fingerprint = text("fingerprint", required=True) if "fingerprint" in mapping else ""
        if errors.found:
            continue
        keys.add(group_key)
        if fingerprint in seen:
            errors.add(path_of("fingerprint"), "The same fingerprint as an alert before it: each alert once.")
            continue
        if not fingerprint:  # known by its labels, as Alertmanager's alerts are: the same labels, the same alert
            fingerprint = labels_fingerprint(labels or {"title": title})
            if fingerprint in seen:
                continue
        seen.add(fingerprint)
        alerts.append(
            Alert(
                fingerprint=fingerprint,
                status=FIRING if status in values["firing_values"] else RESOLVED,
                labels=labels,
                annotations={},
                title=(title or _title({}, labels, fallback=source.name))[:200],
                description=description,
                severity=severity or labels.get("severity", ""),
                starts_at=starts_at,
                url=url,
            )
        )
    if len(keys) > 1:
        errors.add(
            _path_of(mapping["group_key"], f"{where}[*]" if where else ""),
            f"One group per delivery: this body has {len(keys)} group keys.",
        )
    errors.raise_any()
    return Delivery(
        group_key=keys.pop(),
        status=FIRING if any(a.firing for a in alerts) else RESOLVED,
        alerts=alerts,
        digest=digest_of(body),
        title=alerts[0].title if len(alerts) == 1 else f"{alerts[0].title} and {len(alerts) - 1} more",
        description="\n\n".join(a.description for a in alerts if a.description)[:MAX_TEXT],
        complete=False,  # a tool may send one alert a call: only a resolved status ends an alert
    )
