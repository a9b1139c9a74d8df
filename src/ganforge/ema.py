"""Exponential moving average of G's weights (G_ema), the StyleGAN2-ADA way.

After every G update: G_ema <- beta * G_ema + (1 - beta) * G, with
``beta = 0.5 ** (batch_size / half_life_images)``: the weight of a past G halves every
``half_life_images`` images, whatever the batch size (Karras et al. 2020, ADA code
``training_loop.py``: ``ema_kimg``, default 10k images). With ``rampup`` set (ADA uses 0.05),
the half-life is ``min(half_life_images, images_seen * rampup)``, so early in training, when G
moves fast, the average forgets quickly (at images_seen = 0, beta = 0: G_ema = G).

Buffers (BatchNorm running statistics) are copied from G, not averaged, as in ADA. G_ema is a
deep copy with ``requires_grad`` off and no optimizer; this class never switches its train/eval
mode (whoever samples from it decides; sampling in eval mode uses the copied running stats).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .errors import UserError


class EMA:
    """G_ema and the rule that updates it. State: G_ema's weights and the update count."""

    def __init__(self, G: nn.Module, half_life_images: float = 10_000,
                 rampup: float | None = None):
        if not half_life_images > 0:
            raise UserError(f"ema.half_life_images must be > 0, got {half_life_images!r}")
        if rampup is not None and not rampup > 0:
            raise UserError(f"ema.rampup must be > 0 or unset, got {rampup!r} (ADA uses 0.05)")
        self.half_life_images = float(half_life_images)
        self.rampup = rampup
        self.updates = 0
        self.G_ema = copy.deepcopy(G).requires_grad_(False)

    def beta(self, batch_size: int, images_seen: int) -> float:
        """The decay for this update; ``images_seen`` counts images before this batch."""
        half_life = self.half_life_images
        if self.rampup is not None:
            half_life = min(half_life, images_seen * self.rampup)
        return 0.5 ** (batch_size / max(half_life, 1e-8))

    @torch.no_grad()
    def update(self, G: nn.Module, batch_size: int, images_seen: int) -> float:
        """G_ema <- beta G_ema + (1 - beta) G for parameters; buffers copied. Returns beta."""
        beta = self.beta(batch_size, images_seen)
        ema_params = dict(self.G_ema.named_parameters())
        for name, p in G.named_parameters():
            # p.lerp(ema, beta) = p + beta (ema - p) = beta ema + (1 - beta) p
            ema_params[name].copy_(p.detach().lerp(ema_params[name], beta))
        ema_buffers = dict(self.G_ema.named_buffers())
        for name, b in G.named_buffers():
            ema_buffers[name].copy_(b)
        self.updates += 1
        return beta

    def state_dict(self) -> dict:
        return {"G_ema": self.G_ema.state_dict(), "updates": self.updates,
                "half_life_images": self.half_life_images, "rampup": self.rampup}

    def load_state_dict(self, state: dict) -> None:
        """Restore G_ema and the count; the half-life and ramp-up stay those of the config
        (a resume with a changed config is the caller's decision to refuse or allow)."""
        self.G_ema.load_state_dict(state["G_ema"])
        self.updates = int(state["updates"])
