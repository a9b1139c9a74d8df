"""Train ganforge's default feature network on Fashion-MNIST (same as `ganforge train-classifier`).

    python scripts/train_classifier.py            # writes src/ganforge/metrics/weights/fmnist_classifier.pt
"""

import os
import sys

# On a shared machine, OpenMP threads that spin while waiting for a descheduled sibling burn
# the CPU without progress; sleeping instead costs nothing when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ganforge.cli import main  # noqa: E402  (after OMP_WAIT_POLICY)

if __name__ == "__main__":
    sys.exit(main(["train-classifier", *sys.argv[1:]]))
