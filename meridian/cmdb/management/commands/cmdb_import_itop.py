"""`meridian cmdb_import_itop DIR_OR_ZIP [--dry-run] [--as USERNAME] [--authorised-by CHANGE]`: import iTop data (the
XML files of iTop's data loader, in a directory or a .zip) into the CMDB (`cmdb.itop`), with the same checks and
report as the page and the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meridian.cmdb import inventory, itop
from meridian.cmdb.management.inventory_command import InventoryCommand


class Command(InventoryCommand):
    help = (
        "Import iTop data (the XML files of iTop's data loader: a directory, read with its sub-directories, or a "
        ".zip) into the CMDB: organisations, locations, persons and teams, functional CIs and services as CIs, "
        "their links as relationships, farms as redundancy groups. Everything is checked first; every problem is "
        "printed as file: Class id.field. Without --dry-run it is then written all at once, or not at all when any "
        "object has a problem. Importing the same data again updates what changed and creates no duplicates."
    )
    noun = "iTop import"
    path_help = "A directory of iTop XML files, or a .zip of them."

    def read(self, path: Path) -> Any:
        if path.is_dir():
            return itop.read_directory(path)
        with path.open("rb") as fileobj:
            return itop.read_zip(fileobj)

    def run(self, dump: Any, **options: Any) -> inventory.Report:
        return itop.run(dump, **options)
