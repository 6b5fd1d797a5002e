"""``python -m genja_prefect.lab serve|up|status|down --dir DIR``; see :mod:`genja_prefect.lab.serve`."""

import sys

from genja_prefect.lab.serve import main

sys.exit(main())
