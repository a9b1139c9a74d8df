"""GAN losses as pure functions of discriminator logits.

Sign convention: every function returns a *per-sample* value that its player MINIMIZES.
D's loss is ``mean(d_real(real_logits)) + mean(d_fake(fake_logits))``; G's loss is
``mean(g(fake_logits))``. Logits are raw scores D(x) (no sigmoid). Probabilistic losses use
softplus forms, which are finite for logits of any size (log(sigmoid(x)) is not:
``log(sigmoid(-50))`` underflows to -inf in float32).

Identities used below: -log(sigmoid(x)) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x).

The registry ``LOSSES`` maps the paper names to :class:`Loss` records; ``get_loss`` looks one up
with a helpful error. ``zero_sum`` marks losses where G's loss is exactly minus D's fake term,
so d(G loss)/d(fake) = -d(D loss)/d(fake) (one-step training exploits that).

One-sided label smoothing (Salimans et al. 2016, section 3.4): ``d_loss(..., real_label=0.9)``
gives D a real target of 0.9 instead of 1; the fake target stays 0 (smoothing it would reward
G's samples where the data has none). Defined for the cross-entropy losses (D's real term
becomes the cross-entropy with target 1 - s) and least squares ((D(x) - real_label)^2 / 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from typing import TYPE_CHECKING

from ._lazy import F, torch
from .errors import UserError, nearest

if TYPE_CHECKING:
    from torch import Tensor


# --- saturating: the original minimax game of Goodfellow et al. 2014 ------------------------
def saturating_d_real(real_logits: Tensor) -> Tensor:
    """-log D(x) = softplus(-logit)."""
    return F.softplus(-real_logits)


def saturating_d_fake(fake_logits: Tensor) -> Tensor:
    """-log(1 - D(G(z))) = softplus(logit)."""
    return F.softplus(fake_logits)


def saturating_g(fake_logits: Tensor) -> Tensor:
    """log(1 - D(G(z))) = -softplus(logit). Its gradient vanishes when D rejects fakes."""
    return -F.softplus(fake_logits)


def saturating_d_real_smoothed(real_logits: Tensor, real_label: float) -> Tensor:
    """Cross-entropy with target t = real_label: -t log D(x) - (1 - t) log(1 - D(x))
    = t softplus(-logit) + (1 - t) softplus(logit)."""
    return real_label * F.softplus(-real_logits) + (1.0 - real_label) * F.softplus(real_logits)


# --- nonsaturating: G maximizes log D(G(z)) instead (same paper, section 3) -----------------
def nonsaturating_g(fake_logits: Tensor) -> Tensor:
    """-log D(G(z)) = softplus(-logit)."""
    return F.softplus(-fake_logits)


# --- hinge (Lim & Ye 2017; Miyato et al. 2018) -------------------------------------------------
def hinge_d_real(real_logits: Tensor) -> Tensor:
    """max(0, 1 - D(x))."""
    return F.relu(1.0 - real_logits)


def hinge_d_fake(fake_logits: Tensor) -> Tensor:
    """max(0, 1 + D(G(z)))."""
    return F.relu(1.0 + fake_logits)


def linear_g(fake_logits: Tensor) -> Tensor:
    """-D(G(z)): G of the hinge and Wasserstein losses."""
    return -fake_logits


# --- wasserstein (Arjovsky et al. 2017): D is a critic ---------------------------------------
def wasserstein_d_real(real_logits: Tensor) -> Tensor:
    """-D(x)."""
    return -real_logits


def wasserstein_d_fake(fake_logits: Tensor) -> Tensor:
    """D(G(z))."""
    return fake_logits


# --- least squares (Mao et al. 2017, 0-1 coding a=0, b=1, c=1, with the paper's 1/2) -------
def least_squares_d_real(real_logits: Tensor) -> Tensor:
    """(D(x) - 1)^2 / 2."""
    return 0.5 * (real_logits - 1.0).square()


def least_squares_d_real_smoothed(real_logits: Tensor, real_label: float) -> Tensor:
    """(D(x) - real_label)^2 / 2: the LSGAN real target b moved from 1 to real_label."""
    return 0.5 * (real_logits - real_label).square()


def least_squares_d_fake(fake_logits: Tensor) -> Tensor:
    """D(G(z))^2 / 2."""
    return 0.5 * fake_logits.square()


def least_squares_g(fake_logits: Tensor) -> Tensor:
    """(D(G(z)) - 1)^2 / 2."""
    return 0.5 * (fake_logits - 1.0).square()


LossFn = Callable[["Tensor"], "Tensor"]
SmoothedFn = Callable[["Tensor", float], "Tensor"]


def at_least_fp32(x: Tensor) -> Tensor:
    """bf16/fp16 logits (autocast) are upcast so the loss is computed in float32; float64
    stays float64 (exactness tests run in double)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


@dataclass(frozen=True)
class Loss:
    """A GAN loss: the three per-sample terms and their formulas for the training plan."""

    name: str
    d_real: LossFn
    d_fake: LossFn
    g: LossFn
    d_formula: str
    g_formula: str
    zero_sum: bool
    # D's real term with a real target other than 1 (one-sided label smoothing); None when the
    # loss has no labels to smooth.
    d_real_smoothed: SmoothedFn | None = None

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, *,
               real_label: float = 1.0) -> Tensor:
        """Scalar D loss: batch means of the real and fake terms, in float32 or better.

        ``real_label`` < 1 is one-sided label smoothing (real side only); 1.0 is the plain loss,
        computed exactly as without it.
        """
        real_logits = at_least_fp32(real_logits)
        if real_label == 1.0:
            real_term = self.d_real(real_logits)
        else:
            if self.d_real_smoothed is None:
                raise UserError(
                    "label smoothing is defined for the cross-entropy and least-squares losses "
                    f"(saturating, nonsaturating, least_squares), not {self.name}: drop "
                    "real_label or choose one of those losses")
            if not 0.0 < real_label <= 1.0:
                raise UserError(f"real_label must be in (0, 1] (e.g. 0.9), got {real_label!r}")
            real_term = self.d_real_smoothed(real_logits, real_label)
        return real_term.mean() + self.d_fake(at_least_fp32(fake_logits)).mean()

    def g_loss(self, fake_logits: Tensor) -> Tensor:
        """Scalar G loss, in float32 or better."""
        return self.g(at_least_fp32(fake_logits)).mean()


LOSSES: dict[str, Loss] = {
    "saturating": Loss(
        "saturating", saturating_d_real, saturating_d_fake, saturating_g,
        "-log D(x) - log(1 - D(G(z)))", "log(1 - D(G(z)))  (minimax)", zero_sum=True,
        d_real_smoothed=saturating_d_real_smoothed,
    ),
    "nonsaturating": Loss(
        "nonsaturating", saturating_d_real, saturating_d_fake, nonsaturating_g,
        "-log D(x) - log(1 - D(G(z)))", "-log D(G(z))", zero_sum=False,
        d_real_smoothed=saturating_d_real_smoothed,
    ),
    "hinge": Loss(
        "hinge", hinge_d_real, hinge_d_fake, linear_g,
        "max(0, 1 - D(x)) + max(0, 1 + D(G(z)))", "-D(G(z))", zero_sum=False,
    ),
    "wasserstein": Loss(
        "wasserstein", wasserstein_d_real, wasserstein_d_fake, linear_g,
        "D(G(z)) - D(x)", "-D(G(z))", zero_sum=True,
    ),
    "least_squares": Loss(
        "least_squares", least_squares_d_real, least_squares_d_fake, least_squares_g,
        "(D(x) - 1)^2 / 2 + D(G(z))^2 / 2", "(D(G(z)) - 1)^2 / 2", zero_sum=False,
        d_real_smoothed=least_squares_d_real_smoothed,
    ),
}


def get_loss(loss: str | Loss) -> Loss:
    """Look up a loss by paper name; a :class:`Loss` passes through unchanged."""
    if isinstance(loss, Loss):
        return loss
    if loss not in LOSSES:
        raise UserError(
            f"unknown loss {loss!r}{nearest(loss, LOSSES)}; choose one of: {', '.join(LOSSES)}"
        )
    return LOSSES[loss]
