"""`meridian cmdb_import_netbox FILE [--dry-run] [--as USERNAME] [--authorised-by CHANGE]`: import a NetBox inventory
(its JSON dump) into the CMDB (`cmdb.netbox`), with the same checks and report as the page and the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meridian.cmdb import inventory, netbox
from meridian.cmdb.management.inventory_command import InventoryCommand


class Command(InventoryCommand):
    help = (
        "Import a NetBox inventory (the JSON of `manage.py dumpdata` of NetBox 3.x) into the CMDB: tenants and "
        "providers as organisations, regions, sites, locations and racks as locations, devices, clusters, virtual "
        "machines and circuits as CIs, cables as relationships. The whole file is checked first; every problem is "
        "printed as kind[position].field. Without --dry-run it is then written all at once, or not at all when any "
        "object has a problem. Importing the same file again updates what changed and creates no duplicates."
    )
    noun = "NetBox import"
    path_help = "The NetBox dump: a .json file."

    def read(self, path: Path) -> Any:
        with path.open("rb") as fileobj:
            return netbox.read_dump(fileobj)

    def run(self, dump: Any, **options: Any) -> inventory.Report:
        return netbox.run(dump, **options)
