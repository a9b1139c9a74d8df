"""``python -m ganforge ...``: the same as the ``ganforge`` command (and what ``torchrun -m
ganforge`` starts in every process)."""

import sys

from .cli import main

sys.exit(main())
