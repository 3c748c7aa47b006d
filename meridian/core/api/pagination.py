"""List pages of the API.

- By page number (what a person's script asks first): `?page=2&page_size=100`. The count is exact up to 10,000
  rows (`querysets.COUNT_LIMIT`); past that `count` is 10,000 with `count_exact: false`, and the pages reach the
  first 10,000 rows in the chosen order (a page past them is a 400 on `page` that says to use a cursor). A
  million-row table costs a page no more than a small one: no exact COUNT(*) and no deep OFFSET.
- By cursor (to walk every row, however many): `?cursor=` (empty for the first page), then the `next` link of each
  page. Rows come in id order, each once, from an index; `count` is null. `ordering` may not be combined with it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from meridian.core import querysets
from meridian.core.querysets import BoundedPaginator
from meridian.utils.numbers import positive_int

CURSOR = "cursor"


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"after:{pk}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> int | None:
    """The id a cursor continues after; 0 for the empty cursor (the first page); None for anything else."""
    if text == "":
        return 0
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, number = raw.partition(":")
    return positive_int(number) if kind == "after" else None


class Pagination(PageNumberPagination):
    """`?page=2&page_size=100`, or `?cursor=` (see the module's docstring); at most 1,000 rows a page (a larger page
    size gets 1,000). Page and page size must be whole numbers of at least 1 when given: anything else (`0`, `-1`,
    `1.5`, `abc`, `null`, empty) is a 400 on the parameter, never silently the default."""

    page_size_query_param = "page_size"
    max_page_size = 1000
    django_paginator_class = BoundedPaginator
    after: int | None = None  # cursor mode: the id the page continues after

    def _positive(self, request: Request, name: str) -> int | None:
        value = request.query_params.get(name)
        if value is None:
            return None
        number = positive_int(value)
        if number is None:
            raise ValidationError({name: [f"Give a whole number of at least 1, not “{value}”."]})
        return number

    def get_page_size(self, request: Request) -> int | None:
        size = self._positive(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        if request.query_params.get(self.page_query_param) in self.last_page_strings:
            return paginator.num_pages
        return self._positive(request, self.page_query_param) or 1

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        self.request = request
        if CURSOR not in request.query_params:
            return self._by_page(queryset, request)
        errors: dict[str, list[str]] = {}
        if request.query_params.get("ordering"):
            errors["ordering"] = ["Cursor paging walks the rows in id order: leave out `ordering`."]
        if self.page_query_param in request.query_params:
            errors[self.page_query_param] = ["Give either `page` or `cursor`, not both."]
        self.after = decode_cursor(request.query_params[CURSOR])
        if self.after is None:
            errors[CURSOR] = ["Not a cursor given by this API: start with an empty `cursor=`, then follow `next`."]
        if errors:
            raise ValidationError(errors)
        size = self.get_page_size(request) or self.max_page_size
        rows = list(queryset.order_by("pk").filter(pk__gt=self.after)[: size + 1])
        self.cursor_rows, self.cursor_more = rows[:size], len(rows) > size
        return self.cursor_rows

    def _by_page(self, queryset: Any, request: Request) -> list[Any] | None:
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        paginator = self.django_paginator_class(queryset, page_size)
        number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(number)
        except InvalidPage:
            if not paginator.exact and number != 1:
                raise ValidationError(
                    {
                        self.page_query_param: [
                            f"Pages reach the first {querysets.COUNT_LIMIT:,} rows in this order: narrow the "
                            "filters, or walk every row with `cursor=` (see the API documentation)."
                        ]
                    }
                ) from None
            raise NotFound(f"There is no page {number}.") from None
        return list(self.page)

    def get_paginated_response(self, data: Any) -> Response:
        assert self.request is not None  # set by paginate_queryset
        if self.after is not None:
            url = self.request.build_absolute_uri()
            last = self.cursor_rows[-1].pk if self.cursor_rows else None
            following = replace_query_param(url, CURSOR, encode_cursor(last)) if self.cursor_more and last else None
            return Response({"count": None, "count_exact": False, "next": following, "previous": None, "results": data})
        assert self.page is not None
        paginator: Any = self.page.paginator
        return Response(
            {
                "count": paginator.count,
                "count_exact": paginator.exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: Any) -> dict[str, Any]:
        described = super().get_paginated_response_schema(schema)
        described["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "description": f"Exact up to {querysets.COUNT_LIMIT:,} (`count_exact`); null when paging by cursor.",
        }
        described["properties"]["count_exact"] = {
            "type": "boolean",
            "description": f"False when there are more than `count` rows (counted up to {querysets.COUNT_LIMIT:,}).",
        }
        return described

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": CURSOR,
                "required": False,
                "in": "query",
                "description": "Walk every row in id order: empty for the first page, then follow `next`. Not with "
                "`page` or `ordering`.",
                "schema": {"type": "string"},
            },
        ]
