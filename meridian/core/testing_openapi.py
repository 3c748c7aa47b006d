"""The OpenAPI document for the tests that read it (`openapi_schema`)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

_SCHEMA: dict[str, Any] = {}


def openapi_schema(api: Any) -> dict[str, Any]:
    """The OpenAPI document as `/api/schema/` serves it, fetched once per test process through `api` (a logged-in
    client) and shared: it is the same for every reader and every test (the registry is fixed at start), and making
    it takes a second or more, which the per-type tests would otherwise pay once each."""
    if not _SCHEMA:
        response = api.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert response.status_code == 200, response.content[:500]
        _SCHEMA.update(response.json())
    return _SCHEMA
