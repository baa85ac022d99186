"""``python -m lib``: the command line (:mod:`lib.cli`)."""

import sys

from lib.cli import main

sys.exit(main())
