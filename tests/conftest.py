"""Shared small fixtures: tiny networks so every unit test runs in well under a second.

precision=auto (the default) picks bf16 on CPUs with AMX or AVX-512 BF16 and fp32 elsewhere;
the suite pins the CPU flags it reads (``$GANFORGE_CPU_FLAGS``, inherited by the processes
the tests start) so that every test trains in the same precision on every CPU. The choice
itself is tested with explicit flags (tests/test_precision.py)."""

import os

os.environ["GANFORGE_CPU_FLAGS"] = "avx2 fma"   # before ganforge reads them

import pytest
import torch
from torch import nn

from ganforge.nets import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    yield


def mlp_pair(z_dim=4, dim=2, hidden=16, dropout=0.0):
    G = MLPGenerator(z_dim, dim, hidden=hidden, depth=2)
    D = MLPDiscriminator(dim, hidden=hidden, depth=2, dropout=dropout)
    return G, D


def dcgan_pair(width=8, batchnorm=False, dropout=0.0):
    G = DCGANGenerator(z_dim=8, channels=1, image_size=28, width=width)
    D = DCGANDiscriminator(channels=1, image_size=28, width=width, batchnorm=batchnorm,
                           dropout=dropout)
    return G, D


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def opt_state(opt: torch.optim.Optimizer) -> list:
    """A deep copy of an optimizer's per-parameter state, for exact comparison."""
    out = []
    for group in opt.param_groups:
        for p in group["params"]:
            out.append({k: (v.clone() if torch.is_tensor(v) else v)
                        for k, v in opt.state.get(p, {}).items()})
    return out


def assert_same_state(a: list, b: list):
    assert len(a) == len(b)
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for k in sa:
            if torch.is_tensor(sa[k]):
                assert torch.equal(sa[k], sb[k]), k
            else:
                assert sa[k] == sb[k], k


def identity_features(num_features: int) -> nn.Module:
    """A feature extractor that returns its input, for torchmetrics' FID/KID (which read
    ``num_features`` off the module)."""
    class Identity(nn.Module):
        def forward(self, x):
            return x
    module = Identity()
    module.num_features = num_features
    return module


class Head(nn.Module):
    """A 'classifier' over 3-D samples for the metric tests: features are the samples, logits
    50 x the samples."""

    def features(self, x):
        return x

    def forward(self, x):
        return 50.0 * x


class Plain(nn.Module):
    """A feature network that is the identity on flattened samples (no logits)."""

    def forward(self, x):
        return x.flatten(1)
