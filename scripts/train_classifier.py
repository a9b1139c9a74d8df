"""Train ganforge's default feature network on Fashion-MNIST (same as `ganforge train-classifier`).

    python scripts/train_classifier.py            # writes src/ganforge/metrics/weights/fmnist_classifier.pt
"""

import argparse
import os
import sys

# On a shared machine, OpenMP threads that spin while waiting for a descheduled sibling burn
# the CPU without progress; sleeping instead costs nothing when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ganforge.errors import UserError  # noqa: E402  (after OMP_WAIT_POLICY)
from ganforge.metrics.train_classifier import add_arguments, main  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    try:
        sys.exit(main(ap.parse_args()))
    except UserError as err:
        print(f"train_classifier: error: {err}", file=sys.stderr)
        sys.exit(2)
