"""The `meridian` console command: every operator task, like NetBox's or Sentry's manage entry point.

`meridian serve`, `meridian worker`, `meridian demo`, `meridian audit verify` and every Django management
command (`meridian migrate`, `meridian createsuperuser`, `meridian check --deploy`, ...).
"""

from __future__ import annotations

import os
import sys

ALIASES = {"worker": "run_huey"}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meridian.settings")
    if len(args) > 1 and args[1] in ALIASES:
        args[1] = ALIASES[args[1]]
    from django.core.management import execute_from_command_line

    execute_from_command_line(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
