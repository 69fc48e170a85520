"""`python3 -m cvptools ...` (with scripts/ on sys.path) is the same as `scripts/cvp ...`."""

import sys

from .cli import main

sys.exit(main())
