#!/usr/bin/env python
"""Django's command-line utility; `meridian` is the same thing installed as a console command."""

import sys

from meridian.cli import main

if __name__ == "__main__":
    sys.exit(main())
