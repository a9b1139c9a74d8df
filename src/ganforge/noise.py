"""Instance noise (Sonderby et al. 2016; Arjovsky & Bottou 2017).

Gaussian noise N(0, sigma^2) added to every input D sees, real and fake alike, makes the two
distributions overlap, so D cannot separate them perfectly and G's gradient does not vanish.
The noise is annealed: sigma(step) = sigma * max(0, 1 - step / anneal_steps), a linear decay
from ``sigma`` at step 0 to exactly 0 at ``anneal_steps`` and after (``anneal_steps=None``:
constant sigma). ``step`` is the training iteration. Works on any sample shape (points,
vectors, images). Stateless: sigma is a function of the step, and the randomness comes from
the generator passed in (checkpointed by its owner).
"""

from __future__ import annotations

import math

from ._lazy import torch

from . import streams
from .errors import UserError


class InstanceNoise:
    """x -> x + sigma(step) * eps, eps ~ N(0, 1) from ``generator``.

    Its ``sigma_at(step)`` counts D updates (the objective's counter), so the annealing is
    checkpointed with the run.
    """

    def __init__(self, sigma: float, anneal_steps: int | None = None):
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
            raise UserError(f"instance noise sigma must be a number >= 0, got {sigma!r}")
        if anneal_steps is not None and (not isinstance(anneal_steps, int) or anneal_steps < 1):
            raise UserError(f"instance noise anneal_steps must be a whole number >= 1 or unset, "
                            f"got {anneal_steps!r}")
        self.sigma, self.anneal_steps = float(sigma), anneal_steps

    def sigma_at(self, step: int) -> float:
        """sigma * max(0, 1 - step / anneal_steps); constant sigma without annealing."""
        if self.anneal_steps is None:
            return self.sigma
        return self.sigma * max(0.0, 1.0 - step / self.anneal_steps)

    def __call__(self, x: torch.Tensor, step: int, generator: torch.Generator) -> torch.Tensor:
        """x plus noise; x itself (no draw) once sigma has reached 0. Differentiable in x."""
        sigma = self.sigma_at(step)
        if sigma == 0.0:
            return x
        eps = streams.randn(tuple(x.shape), generator, generator.device)
        return x + sigma * eps.to(x.device, x.dtype)
