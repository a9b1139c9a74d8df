"""Feature networks: what FID, KID, precision/recall and density/coverage measure distances in.

A :class:`FeatureNet` wraps any ``torch.nn.Module`` (or a TorchScript file loaded with
``torch.jit.load``, so a TorchScript Inception gives Inception-FID comparable with papers) and
carries the two facts provenance needs: a name and the sha256 of its weights.

- Features: ``module.features(x)`` when the module has such a method (ganforge's classifier,
  or a TorchScript module that exports one), else ``module(x)``; flattened to (N, D).
- Logits (for the Inception-Score-style score and class histograms): ``module(x)`` when the
  module has a ``features`` method; a module without one has no logits.

``load_feature_net("default")`` is ganforge's own Fashion-MNIST classifier (28x28 grayscale),
``"identity"`` uses the samples themselves (2-D points, small vectors), anything else is a
path to a TorchScript file. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import UserError


def weights_sha256(module: nn.Module) -> str:
    """sha256 over the state dict (names, dtypes, shapes, bytes), in name order.

    The same weights give the same hash whether they came from a .pt file, a TorchScript file
    or a live module.
    """
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class _Identity(nn.Module):
    def forward(self, x):
        return x


@dataclass
class FeatureNet:
    """A feature extractor with its provenance: ``name``, ``sha256`` of its weights, and the
    sample shape it accepts (``input_shape``, None: any)."""

    module: nn.Module
    name: str
    sha256: str
    input_shape: tuple[int, ...] | None = None

    @property
    def has_logits(self) -> bool:
        return hasattr(self.module, "features")

    def check_input(self, sample_shape: tuple[int, ...]) -> None:
        if self.input_shape is not None and tuple(sample_shape) != self.input_shape:
            raise UserError(
                f"the feature network {self.name!r} takes samples of shape {self.input_shape}, "
                f"but these are {tuple(sample_shape)}: pass --feature-net PATH to a TorchScript "
                "network for this data (or 'identity' for points and small vectors)")

    @torch.no_grad()
    def _run(self, x: torch.Tensor, method: str, chunk: int) -> torch.Tensor:
        self.check_input(tuple(x.shape[1:]))
        was_training = self.module.training
        self.module.eval()  # BatchNorm/dropout in inference mode: features of a fixed function
        try:
            device = next(iter(self.module.parameters()), torch.empty(0)).device
            fn = getattr(self.module, method) if method == "features" else self.module
            out = [fn(part.to(device)).float().flatten(1).cpu() for part in x.split(chunk)]
        finally:
            self.module.train(was_training)
        return torch.cat(out) if out else torch.empty(0)

    def features(self, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
        """(N, *sample_shape) -> (N, D) float32 features."""
        return self._run(x, "features" if self.has_logits else "forward", chunk)

    def logits(self, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
        """(N, *sample_shape) -> (N, C) float32 logits; an error for a net without a head."""
        if not self.has_logits:
            raise UserError(f"the feature network {self.name!r} has no classifier head (no "
                            "`features` method beside forward), so it gives no class "
                            "probabilities: drop is/classes from --metrics or use the default "
                            "classifier")
        return self._run(x, "forward", chunk)


def from_module(module: nn.Module, name: str | None = None,
                input_shape: tuple[int, ...] | None = None) -> FeatureNet:
    """Wrap any module; its name defaults to the class name."""
    return FeatureNet(module, name or type(module).__name__, weights_sha256(module), input_shape)


def load_torchscript(path: str | Path) -> FeatureNet:
    """A TorchScript feature network from a file (``torch.jit.save``), on CPU."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"feature network file {path} does not exist: pass a TorchScript file "
                        "(torch.jit.save), 'default' or 'identity'")
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.x but is what
            warnings.simplefilter("ignore", DeprecationWarning)  # users hold Inception in
            module = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as err:
        raise UserError(f"{path} is not a TorchScript file ({str(err).splitlines()[0]}): save "
                        "the network with torch.jit.save(torch.jit.script(net), path)") from None
    return FeatureNet(module.eval(), path.name, weights_sha256(module))


def load_feature_net(spec: "str | Path | nn.Module | FeatureNet" = "default") -> FeatureNet:
    """"default" (ganforge's Fashion-MNIST classifier), "identity", a TorchScript path, or a
    module."""
    if isinstance(spec, FeatureNet):
        return spec
    if isinstance(spec, nn.Module):
        return from_module(spec)
    if str(spec) == "default":
        from .classifier import load_classifier

        net = load_classifier()
        return FeatureNet(net, "ganforge-fmnist-classifier", weights_sha256(net), (1, 28, 28))
    if str(spec) == "identity":
        return FeatureNet(_Identity(), "identity", hashlib.sha256(b"identity").hexdigest())
    return load_torchscript(spec)


def extract_features(net, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """Features (N, D) of samples x (N, ...) by a module, TorchScript path or FeatureNet."""
    return load_feature_net(net).features(x, chunk)
