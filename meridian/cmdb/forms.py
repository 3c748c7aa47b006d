"""Forms of the CMDB's record types where the generic form needs a hand."""

from __future__ import annotations

from typing import Any

from meridian.cmdb.models import ConfigurationItem
from meridian.core import registry
from meridian.core.forms import RecordForm


class ScopedForm(RecordForm):
    """A baseline's, a schedule's or an audit's form: the saved views offered are the CI list's views the person
    may open (a saved view is not a record type, so the generic restriction does not cover it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields.get("scope_view")
        if field is not None:
            from meridian.core.saved_views import visible_views

            field.queryset = visible_views(self.user, registry.get(ConfigurationItem)).order_by("name", "id")
        data = self.fields.get("discovered_data")
        if data is not None:
            data.widget.attrs.update(
                {
                    "rows": 8,
                    "class": "form-control font-monospace",
                    "placeholder": "serial_number,name,ci_version\nSN-1001,erp-db-01,15.4\nSN-1002,erp-db-02,15.4",
                }
            )
