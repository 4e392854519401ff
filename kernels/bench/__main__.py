"""``python -m kernels.bench``: check, then benchmark, all three kernels (see ``run.py``)."""

import sys

from kernels.bench.run import main

sys.exit(main())
