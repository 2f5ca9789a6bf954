"""``python -m undetectable``: the command line (same as the ``undetectable`` console script)."""
import sys

from .cli import main

sys.exit(main())
