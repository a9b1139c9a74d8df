"""Running G outside of training without disturbing training.

Sample grids, the start-up range check and ``ganforge sample`` all run G on some z. Doing that
in train mode updates BatchNorm running statistics and can draw from the global RNG (dropout),
which would make a run with sample grids differ from one without, and break exact resume.
:func:`untouched` snapshots the module's mode, buffers and the global RNG, and puts them back.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ._lazy import nn, no_grad, torch


@contextmanager
def untouched(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` freely inside the block; on exit every submodule's train/eval flag, all
    buffers (BatchNorm running stats) and the global RNG (CPU, and the CUDA devices the module
    lives on) are as they were. Parameters are not saved: do not step an optimizer in here."""
    modes = [(m, m.training) for m in module.modules()]
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    tensors = [*module.parameters(), *module.buffers()]
    cuda = sorted({t.device.index or 0 for t in tensors if t.is_cuda})
    with torch.random.fork_rng(devices=cuda):
        try:
            yield module
        finally:
            with torch.no_grad():
                for b, saved in buffers:
                    b.copy_(saved)
            for m, training in modes:
                m.training = training


@no_grad
def generate(G: nn.Module, z: torch.Tensor, mode: str = "train", chunk: int = 256,
             autocast=None) -> torch.Tensor:
    """G(z) in float32 on CPU-friendly chunks, leaving G exactly as it was.

    ``mode="train"`` normalizes with the statistics of each chunk of z (what a DCGAN G does
    while it trains; BatchNorm running averages lag behind early in training), ``"eval"``
    uses the running averages. Returns (N, *sample_shape) float32 on z's device.
    """
    outs = []
    with untouched(G):
        G.train(mode == "train")
        for part in z.split(chunk):
            if mode == "train" and part.shape[0] == 1 and chunk > 1:
                G.eval()  # a batch of one has no batch statistics
            if autocast is not None:
                with autocast():
                    outs.append(G(part).float())
            else:
                outs.append(G(part).float())
    return torch.cat(outs)
