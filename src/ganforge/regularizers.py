"""Penalty terms for the discriminator (and weight constraints): pure functions plus records.

Every gradient penalty returns an *unweighted* scalar in float32 (float64 stays float64) that
gradients flow through into D's parameters (``create_graph=True``); the update strategy adds
``sum(penalty.factor(updates) * value)`` to D's loss before its one backward.

- ``gradient_penalty``: WGAN-GP (Gulrajani et al. 2017), mean_i (||grad D(x_hat_i)|| - 1)^2,
  x_hat = alpha * real + (1 - alpha) * fake, one alpha ~ U[0, 1) per sample; ``one_sided``:
  max(0, ||g|| - 1)^2 (their appendix / Petzka et al. 2018).
- ``r1`` / ``r2``: Mescheder et al. 2018, mean_i ||grad D(x_i)||^2 on real (R1) or fake (R2)
  samples, *without* the gamma/2 (:func:`build_penalties` applies it).
- ``dragan``: Kodali et al. 2017, (||grad D(x_hat)|| - 1)^2 around the data.
- ``weight_penalty``: L2 (sum of squares) or L1 of D's parameters.
- ``clip_weights_``: WGAN's weight clipping (Arjovsky et al. 2017), in place, after opt_D.step.
- ``apply_spectral_norm``: Miyato et al. 2018, on every conv/linear layer of a module.

Numerics: the input gradient is taken in float32 with autocast off, whatever the caller's
precision (a bf16 double-backward is too coarse for a penalty on a norm), and the norm is
"safe": where a gradient is exactly zero its norm is 0 with a zero derivative, never the
NaN that d sqrt(s)/ds = 1/(2 sqrt(s)) gives at s = 0.

The input gradient is of ``D(x).sum()``: per-sample gradients only if D treats samples
independently. BatchNorm (train mode), MinibatchStdDev and minibatch discrimination mix the
batch, so a gradient penalty on such a D is not the per-sample penalty of the papers
(Gulrajani et al. drop batchnorm from the critic for this reason). Each penalty runs one extra
forward pass of D, which in train mode also updates BatchNorm running statistics and spectral
norm power iterations.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable

from typing import TYPE_CHECKING

from ._lazy import nn, no_grad, torch
from . import streams
from .errors import UserError
from .losses import at_least_fp32

if TYPE_CHECKING:
    from torch import Tensor

def _linear_layers() -> tuple[type, ...]:
    """Every layer whose ``weight`` is a linear map; spectral norm goes on exactly these."""
    return (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
            nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


# --- building blocks ----------------------------------------------------------------------------
def safe_norm(x: Tensor) -> Tensor:
    """Row-wise Euclidean norm of (N, F) -> (N,), with derivative 0 (not NaN) at a zero row.

    The double ``where`` keeps the exact value sqrt(sum x^2) and feeds sqrt a 1 at zero rows,
    so neither branch of the backward divides by zero.
    """
    sq = x.square().sum(dim=1)
    nonzero = sq > 0
    return torch.where(nonzero, torch.where(nonzero, sq, torch.ones_like(sq)).sqrt(),
                       torch.zeros_like(sq))


def _autocast_off(x: Tensor):
    return torch.autocast(device_type=x.device.type, enabled=False)


def _eager():
    """A compiled D runs eagerly inside (``torch.compile`` has no double backward)."""
    stance = getattr(torch.compiler, "set_stance", None)   # torch >= 2.6
    return stance("force_eager") if stance is not None else contextlib.nullcontext()


def input_gradient(D: nn.Module, x: Tensor) -> Tensor:
    """grad_x sum_i D(x)_i as (N, F) (flattened per sample), with a graph into D's parameters.

    ``x`` is detached (a penalty never sends gradient into G) and cast to float32 (float64
    kept); D runs with autocast off, and eagerly when it was compiled (``torch.compile``
    cannot take the gradient of this gradient). D must return (N,) or (N, 1).
    """
    x = at_least_fp32(x.detach()).requires_grad_(True)
    with _autocast_off(x), _eager():
        out = D(x)
        if out.shape not in ((x.shape[0],), (x.shape[0], 1)):
            raise UserError(f"D must return one logit per sample, (N,) or (N, 1); got "
                            f"{tuple(out.shape)} for a batch of {x.shape[0]}")
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True, allow_unused=True)
    if grad is None:  # D ignores its input: the gradient is exactly zero
        grad = torch.zeros_like(x)
    return grad.flatten(1)


def _uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """U[0, 1) draws from ``generator`` (on its own device), moved to ``like``'s device/dtype."""
    device = generator.device if generator is not None else like.device
    u = streams.rand(shape, generator, device)
    return u.to(like.device, at_least_fp32(like).dtype)


def _per_sample(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One U[0, 1) number per sample, shaped (N, 1, 1, ...) to broadcast over x."""
    return _uniform((x.shape[0],) + (1,) * (x.dim() - 1), x, generator)


# --- gradient penalties ---------------------------------------------------------------------------
def interpolates(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """x_hat = alpha * real + (1 - alpha) * fake, one alpha ~ U[0, 1) per sample (detached)."""
    if real.shape != fake.shape:
        raise UserError(f"the gradient penalty pairs real and fake samples: shapes "
                        f"{tuple(real.shape)} and {tuple(fake.shape)} differ; use equal batches")
    real, fake = at_least_fp32(real.detach()), at_least_fp32(fake.detach())
    alpha = _per_sample(real, generator)
    return alpha * real + (1 - alpha) * fake


def _unit_norm_penalty(D: nn.Module, x_hat: Tensor, one_sided: bool) -> Tensor:
    excess = safe_norm(input_gradient(D, x_hat)) - 1
    if one_sided:
        excess = excess.clamp(min=0)
    return excess.square().mean()


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor, *, one_sided: bool = False,
                     generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP: mean_i (||grad D(x_hat_i)|| - 1)^2 (one-sided: max(0, ||g|| - 1)^2).

    Unweighted (Gulrajani et al. use lambda = 10). ``generator`` draws alpha.
    """
    return _unit_norm_penalty(D, interpolates(real, fake, generator), one_sided)


def r1(D: nn.Module, real: Tensor) -> Tensor:
    """R1: mean_i ||grad D(real_i)||^2 (Mescheder et al. 2018 apply it with weight gamma/2)."""
    return input_gradient(D, real).square().sum(dim=1).mean()


def r2(D: nn.Module, fake: Tensor) -> Tensor:
    """R2: mean_i ||grad D(fake_i)||^2, R1 on the generated samples."""
    return input_gradient(D, fake).square().sum(dim=1).mean()


def dragan_points(real: Tensor, *, c: float = 0.5,
                  generator: torch.Generator | None = None) -> Tensor:
    """DRAGAN's x_hat = alpha x + (1 - alpha) x_p, x_p = x + c * std(x) * U[0, 1) noise.

    std(x) is one number, the (population) standard deviation of the whole batch, as in
    Kodali et al.'s reference code; alpha is one U[0, 1) per sample. Noise first, then alpha,
    both from ``generator``.
    """
    x = at_least_fp32(real.detach())
    noise = _uniform(tuple(x.shape), x, generator)
    x_p = x + c * x.std(unbiased=False) * noise
    alpha = _per_sample(x, generator)
    return alpha * x + (1 - alpha) * x_p


def dragan(D: nn.Module, real: Tensor, *, c: float = 0.5,
           generator: torch.Generator | None = None) -> Tensor:
    """DRAGAN (Kodali et al. 2017): mean_i (||grad D(x_hat_i)|| - 1)^2 near the data.

    Unweighted (the paper uses lambda = 10, c = 0.5).
    """
    return _unit_norm_penalty(D, dragan_points(real, c=c, generator=generator), False)


# --- weight penalties and constraints ---------------------------------------------------------
def weight_penalty(module: nn.Module, order: int = 2) -> Tensor:
    """order=2: sum of squared parameters (L2); order=1: sum of absolute values (L1). All
    parameters of ``module`` that require grad, biases included."""
    if order not in (1, 2):
        raise UserError(f"weight_penalty order={order!r}: use 2 (L2) or 1 (L1)")
    params = [w for w in module.parameters() if w.requires_grad]
    if not params:
        return torch.zeros(())
    terms = [(at_least_fp32(w).square() if order == 2 else at_least_fp32(w).abs()).sum()
             for w in params]
    return torch.stack(terms).sum()


@no_grad
def clip_weights_(module: nn.Module, c: float) -> nn.Module:
    """WGAN: clamp every parameter of ``module`` to [-c, c] in place (call after opt_D.step)."""
    if not c > 0:
        raise UserError(f"weight clipping needs c > 0, got {c!r} (WGAN uses 0.01)")
    for w in module.parameters():
        w.clamp_(-c, c)
    return module


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectral-normalize every Linear/Conv/ConvTranspose layer in ``module`` (in place).

    Uses ``torch.nn.utils.parametrizations.spectral_norm`` (ConvTranspose layers are
    normalized along their output dimension, as that function does by default). Call it
    before building the optimizer: each ``weight`` becomes ``parametrizations.weight.original``
    (same tensor) plus the power-iteration buffers ``_u``/``_v``, so state_dict keys change.
    Returns ``module``.
    """
    if not isinstance(n_power_iterations, int) or n_power_iterations < 1:
        raise UserError(f"n_power_iterations must be a whole number >= 1, got "
                        f"{n_power_iterations!r}")
    parametrize = nn.utils.parametrize
    layers = [m for m in module.modules() if isinstance(m, _linear_layers())
              and not parametrize.is_parametrized(m, "weight")]
    for layer in layers:
        nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=n_power_iterations)
    return module


# --- penalty records ------------------------------------------------------------------------------
# fn(net, real, fake, generator) -> unweighted scalar; ``net`` is the penalty's target network.
PenaltyFn = Callable[["nn.Module", "Tensor", "Tensor", "torch.Generator | None"], "Tensor"]


@dataclass(frozen=True)
class Penalty:
    """One penalty term: what it is, on which network, how strong, and how often.

    ``interval`` is lazy regularization (Karras et al. 2020, StyleGAN2 section 4.1): the term
    is computed only every ``interval``-th update of the target network and then weighted
    ``weight * interval``, so its expected gradient equals applying ``weight`` every step.
    :meth:`factor` is the one place that scaling lives.
    """

    name: str          # stat key is "reg/<name>"
    target: str        # "D" or "G": whose loss the term is added to
    weight: float
    fn: PenaltyFn
    interval: int = 1
    labels: str = "real"   # conditional runs: the labels D is held at ("real" or "fake")

    def __post_init__(self):
        if self.target not in ("D", "G"):
            raise UserError(f"penalty {self.name}: target must be 'D' or 'G', got {self.target!r}")
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight)
                and self.weight >= 0):
            raise UserError(f"penalty {self.name}: weight must be a number >= 0, "
                            f"got {self.weight!r}")
        if not isinstance(self.interval, int) or isinstance(self.interval, bool) \
                or self.interval < 1:
            raise UserError(f"penalty {self.name}: interval must be a whole number >= 1, "
                            f"got {self.interval!r}")
        if self.labels not in ("real", "fake"):
            raise UserError(f"penalty {self.name}: labels must be 'real' or 'fake', got "
                            f"{self.labels!r}")

    @property
    def stat_key(self) -> str:
        return f"reg/{self.name}"

    def due(self, updates: int) -> bool:
        """Computed when the target network has made 0, interval, 2*interval, ... updates."""
        return updates % self.interval == 0

    def factor(self, updates: int) -> float:
        """The weight to apply when the target network has made ``updates`` updates:
        weight * interval when due, else 0."""
        return float(self.weight * self.interval) if self.due(updates) else 0.0

    def __call__(self, net: nn.Module, real: Tensor, fake: Tensor,
                 generator: torch.Generator | None = None) -> Tensor:
        """The unweighted value."""
        return self.fn(net, real, fake, generator)


def _gp(one_sided: bool) -> PenaltyFn:
    def fn(D, real, fake, generator):
        return gradient_penalty(D, real, fake, one_sided=one_sided, generator=generator)
    return fn


def _r1(D, real, fake, generator):
    return r1(D, real)


def _r2(D, real, fake, generator):
    return r2(D, fake)


def _dragan(D, real, fake, generator):
    return dragan(D, real, generator=generator)


def _l2(D, real, fake, generator):
    return weight_penalty(D, 2)


def build_penalties(*, gp: float = 0.0, gp_one_sided: bool = False, r1: float = 0.0,
                    r2: float = 0.0, dragan: float = 0.0, l2_D: float = 0.0,
                    interval: int = 1) -> list[Penalty]:
    """The D penalties with a positive weight, from the ``reg.*`` config values.

    ``gp``, ``dragan`` and ``l2_D`` are the weights (lambda) as applied; ``r1`` and ``r2`` are
    Mescheder's gamma and are applied as gamma / 2. ``interval`` (lazy regularization) applies
    to the gradient penalties; the cheap L2 term runs every step.
    """
    for key, value in (("gp", gp), ("r1", r1), ("r2", r2), ("dragan", dragan), ("l2_D", l2_D)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise UserError(f"reg.{key} must be a number >= 0 (0 turns it off), got {value!r}")
    out = []
    if gp > 0:
        out.append(Penalty("gp", "D", gp, _gp(gp_one_sided), interval))
    if r1 > 0:
        out.append(Penalty("r1", "D", r1 / 2, _r1, interval))
    if r2 > 0:
        out.append(Penalty("r2", "D", r2 / 2, _r2, interval, labels="fake"))
    if dragan > 0:
        out.append(Penalty("dragan", "D", dragan, _dragan, interval))
    if l2_D > 0:
        out.append(Penalty("l2_D", "D", l2_D, _l2, 1))
    return out


def penalty_terms(penalties: list[Penalty], updates: int, nets: dict, real: Tensor,
                  fake: Tensor, generator: torch.Generator | None = None
                  ) -> tuple[Tensor | None, dict[str, Tensor]]:
    """sum(factor(updates) * value) over the penalties due after the target network's
    ``updates`` updates, and their unweighted values as stats (``reg/<name>``, detached).
    (None, {}) when none is due. No backward here: the caller adds the total to the loss.
    ``nets``: the network each penalty is taken of, by its ``labels`` ("real"/"fake": in a
    conditional run, D with those labels fixed; otherwise the same network twice)."""
    total, stats = None, {}
    for pen in penalties:
        factor = pen.factor(updates)
        if factor == 0.0:
            continue
        value = pen(nets[pen.labels], real, fake, generator)
        stats[pen.stat_key] = value.detach()
        total = factor * value if total is None else total + factor * value
    return total, stats
