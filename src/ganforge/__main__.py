"""``python -m ganforge ...``: the same as the ``ganforge`` command (and what ``torchrun -m
ganforge`` starts in every process)."""

import os
import sys

from .cli import main

code = main()
if os.environ.get("RANK", "0") != "0" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
    # A process other than rank 0 writes no files and has left the process group: skip the
    # interpreter's teardown, where a gloo thread can still abort it ("terminate called
    # without an active exception", SIGABRT) after a run that succeeded.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0)
sys.exit(code)
