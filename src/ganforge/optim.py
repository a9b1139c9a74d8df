"""The optimizer and learning-rate schedule registries: config names -> torch objects.

Each entry names the config keys it reads (``uses``); a key of ``optim_G``/``lr_schedule_G``
set to a non-default value that the chosen entry does not read is a config error (SGD has no
betas), so no setting is silently ignored. One optimizer per network: each is built from one
network's parameters only (``players.check_optimizer`` proves it when the Trainer is built).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from ._lazy import torch


class Entry(NamedTuple):
    build: Callable
    uses: tuple[str, ...]


OPTIMIZERS: dict[str, Entry] = {
    "adam": Entry(lambda params, lr, c: torch.optim.Adam(
        params, lr=lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay),
        ("betas", "eps", "weight_decay")),
    "adamw": Entry(lambda params, lr, c: torch.optim.AdamW(
        params, lr=lr, betas=c.betas, eps=c.eps, weight_decay=c.weight_decay),
        ("betas", "eps", "weight_decay")),
    "rmsprop": Entry(lambda params, lr, c: torch.optim.RMSprop(
        params, lr=lr, eps=c.eps, momentum=c.momentum, weight_decay=c.weight_decay),
        ("eps", "momentum", "weight_decay")),
    "sgd": Entry(lambda params, lr, c: torch.optim.SGD(
        params, lr=lr, momentum=c.momentum, weight_decay=c.weight_decay),
        ("momentum", "weight_decay")),
}

# Stepped once per iteration; ``steps`` is the run's total number of iterations.
LR_SCHEDULES: dict[str, Entry] = {
    "constant": Entry(lambda opt, c, steps: None, ()),
    "step": Entry(lambda opt, c, steps: torch.optim.lr_scheduler.StepLR(
        opt, step_size=c.step_size, gamma=c.gamma), ("step_size", "gamma")),
    "exponential": Entry(lambda opt, c, steps: torch.optim.lr_scheduler.ExponentialLR(
        opt, gamma=c.gamma), ("gamma",)),
    "linear": Entry(lambda opt, c, steps: torch.optim.lr_scheduler.LinearLR(
        opt, start_factor=1.0, end_factor=max(c.end_factor, 1e-8), total_iters=steps),
        ("end_factor",)),
    "cosine": Entry(lambda opt, c, steps: torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=steps), ()),
}


def make_optimizer(cfg, module, lr: float):
    """The optimizer ``cfg.name`` over ``module``'s parameters only (``cfg``: OptimConfig)."""
    return OPTIMIZERS[cfg.name].build(module.parameters(), lr, cfg)


def make_lr_schedule(cfg, opt, steps: int):
    """A scheduler stepped once per iteration, or None for a constant rate
    (``cfg``: LRScheduleConfig)."""
    return LR_SCHEDULES[cfg.name].build(opt, cfg, steps)
