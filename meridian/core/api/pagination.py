"""List pages of the API: `?page=2&page_size=100`."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from meridian.utils.numbers import positive_int


class Pagination(PageNumberPagination):
    """`?page=2&page_size=100`; at most 1,000 rows a page (a larger page size gets 1,000). Both must be whole
    numbers of at least 1 when given: anything else (`0`, `-1`, `1.5`, `abc`, `null`, empty) is a 400 on the
    parameter, never silently the default."""

    page_size_query_param = "page_size"
    max_page_size = 1000

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
