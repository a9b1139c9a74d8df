"""The default feature network: a small CNN classifier for 28x28 grayscale images.

Trained by ganforge itself on Fashion-MNIST (``ganforge train-classifier``; see
``metrics/train_classifier.py``), its weights ship in the package
(``metrics/weights/fmnist_classifier.pt``), so FID and friends on 28x28 data need no download.
Inputs are in ganforge's convention, [-1, 1]. ``features(x)`` is the 128-d penultimate layer
(the FID/KID/PR/DC embedding), ``forward(x)`` the 10 logits (Inception-Score-style score and
class histograms).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import UserError

WEIGHTS = Path(__file__).resolve().parent / "weights" / "fmnist_classifier.pt"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class FMNISTClassifier(nn.Module):
    """(N, 1, 28, 28) in [-1, 1] -> logits (N, 10); ``features`` -> (N, 128).

    Three conv blocks (32, 64, 128 channels; 28 -> 14 -> 7 -> 3 px) and a 128-unit hidden
    layer: about 240k parameters, under 1 MB in float32.
    """

    feature_dim = 128
    num_classes = 10

    def __init__(self, dropout: float = 0.3):
        super().__init__()
        self.body = nn.Sequential(
            *_block(1, 32), nn.MaxPool2d(2),
            *_block(32, 64), nn.MaxPool2d(2),
            *_block(64, 128), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(128 * 3 * 3, self.feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim,
                                                                 self.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) -> (N, 128) penultimate activations (after ReLU)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) -> (N, 10) class logits."""
        return self.head(self.body(x))


def load_classifier(path: str | Path | None = None) -> FMNISTClassifier:
    """The committed classifier (or one at ``path``), in eval mode, on CPU."""
    path = Path(path) if path is not None else WEIGHTS
    if not path.is_file():
        raise UserError(f"classifier weights {path} are missing: train them with "
                        "`ganforge train-classifier` (or reinstall ganforge)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = FMNISTClassifier()
    try:
        net.load_state_dict(state["state_dict"] if "state_dict" in state else state)
    except RuntimeError as err:
        raise UserError(f"{path} does not hold FMNISTClassifier weights: "
                        f"{str(err).splitlines()[0]}; retrain with `ganforge train-classifier`"
                        ) from None
    return net.eval()
