"""The "only this player gets gradients" context.

While G learns, D is frozen: its parameters do not require grad, so autograd computes no
gradient for them (it still back-propagates *through* D to G's output). This is what a Keras
user gets wrong with ``D.trainable = False`` between compiles (docs/problems.md, problem 1): the
freeze here is a
``with`` block, in force exactly while the block runs, and the flags each parameter had before
are restored afterwards, also when the block raises.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ._lazy import torch


@contextmanager
def frozen(*modules: torch.nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` on every parameter of ``modules``; restore on exit."""
    params = [param for m in modules for param in m.parameters()]
    saved = [param.requires_grad for param in params]
    try:
        for param in params:
            param.requires_grad_(False)
        yield
    finally:
        for param, flag in zip(params, saved):
            param.requires_grad_(flag)


# The name a reader looks for first.
freeze = frozen
