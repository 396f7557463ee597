"""``python -m nets``: see :mod:`nets.cli`."""
import sys

from .cli import main

sys.exit(main())
