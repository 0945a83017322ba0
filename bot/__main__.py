"""Run the command line: `python -m bot …`."""

import sys

from .cli import main

sys.exit(main())
