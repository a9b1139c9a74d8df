"""Improved Techniques for Training GANs (Salimans et al. 2016): feature matching and
historical averaging. (Minibatch discrimination is a layer: ``nets/layers.py``; one-sided
label smoothing is ``Loss.d_loss(..., real_label=0.9)`` in ``losses.py``.)

- Feature matching (section 3.1): G minimizes || E f(x) - E f(G(z)) ||^2, with f an
  intermediate layer of D, instead of fooling D's output. The real side is a constant target
  (detached), so the gradient reaches G only; compute it with D frozen. Stat key ``loss/G_fm``
  when it replaces G's loss, ``reg/fm`` when it is added to it.
- Historical averaging (section 3.3): each player adds || theta - (1/t) sum_{i<=t} theta[i] ||^2,
  where theta[i] are its past parameters. Stat key ``reg/hist_D`` / ``reg/hist_G``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import nn, no_grad, torch
from .errors import UserError, nearest
from .losses import at_least_fp32

if TYPE_CHECKING:
    from torch import Tensor


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """|| mean_n real_f - mean_n fake_f ||^2 (sum of squares over features), a scalar.

    Features (N, ...) are flattened per sample; the two batches may differ in size. The real
    features are detached: no gradient flows into the real branch.
    """
    real_mean = at_least_fp32(real_features.detach()).flatten(1).mean(0)
    fake_mean = at_least_fp32(fake_features).flatten(1).mean(0)
    if real_mean.shape != fake_mean.shape:
        raise UserError(f"feature matching needs features of one size: real "
                        f"{tuple(real_features.shape)}, fake {tuple(fake_features.shape)}")
    return (real_mean - fake_mean).square().sum()


def discriminator_features(D: nn.Module, x: Tensor, feature_layer: str | None = None) -> Tensor:
    """D's intermediate features of x, (N, F), without changing D.

    ``feature_layer=None``: ``D.features(x)`` (the reference MLP and DCGAN discriminators have
    it; it stops before the head). Otherwise the output of submodule ``feature_layer`` (a name
    from ``D.named_modules()``), captured by a forward hook during a full ``D(x)`` that is
    removed afterwards.
    """
    if feature_layer is None:
        if not callable(getattr(D, "features", None)):
            raise UserError(f"{type(D).__name__} has no features(x) method: name the layer to "
                            "match with feature_layer=... (a name from D.named_modules())")
        return D.features(x).flatten(1)
    modules = dict(D.named_modules())
    if feature_layer not in modules:
        raise UserError(f"D has no submodule {feature_layer!r}{nearest(feature_layer, modules)}; "
                        f"choose one of: {', '.join(n for n in modules if n)}")
    captured: list[Tensor] = []
    handle = modules[feature_layer].register_forward_hook(lambda m, i, out: captured.append(out))
    try:
        D(x)
    finally:
        handle.remove()
    return captured[-1].flatten(1)


class HistoricalAverage:
    """Running mean of a module's trainable parameters over past updates, and the penalty.

    Order per step: ``penalty(module)`` (against the mean of the past), then, after the
    optimizer step, ``update(module)`` adds the new parameters to the mean. The penalty is 0
    before the first ``update``. State: the count and the means (``state_dict``).
    """

    def __init__(self, module: nn.Module):
        self.count = 0
        self.mean = {name: torch.zeros_like(p, dtype=at_least_fp32(p).dtype)
                     for name, p in module.named_parameters() if p.requires_grad}

    def penalty(self, module: nn.Module) -> Tensor:
        """sum over parameters of || theta - mean_past_theta ||^2 (scalar, differentiable)."""
        if self.count == 0 or not self.mean:
            return torch.zeros(())
        params = dict(module.named_parameters())
        terms = [(at_least_fp32(params[name]) - mean).square().sum()
                 for name, mean in self.mean.items()]
        return torch.stack(terms).sum()

    @no_grad
    def update(self, module: nn.Module) -> None:
        """mean <- mean + (theta - mean) / (count + 1): the running mean of all updates so far."""
        params = dict(module.named_parameters())
        self.count += 1
        for name, mean in self.mean.items():
            mean.add_((params[name].to(mean.dtype) - mean) / self.count)

    def state_dict(self) -> dict:
        return {"count": self.count, "mean": {k: v.clone() for k, v in self.mean.items()}}

    def load_state_dict(self, state: dict) -> None:
        if set(state["mean"]) != set(self.mean):
            raise UserError("historical average state is for another network (parameter "
                            "names differ)")
        self.count = int(state["count"])
        for name, value in state["mean"].items():
            self.mean[name].copy_(value)
