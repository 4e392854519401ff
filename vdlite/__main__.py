"""`python -m vdlite` runs the `vdlite` command."""

import sys

from vdlite.cli import main

sys.exit(main())
