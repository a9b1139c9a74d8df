"""Building a run from a config: the networks each model name gets by default."""

from pathlib import Path

import pytest
import torch

from ganforge.config import build_config
from ganforge.errors import UserError
from ganforge.run import build_run

SLICE = str(Path(__file__).resolve().parents[1] / "src/ganforge/data/fashion_mnist_slice")


def has_batchnorm(net):
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())


def test_dcgan_gets_batchnorm_in_D_by_default_and_can_turn_it_off():
    base = [f"data.root={SLICE}", "data.limit=64", "model.width=8"]
    assert has_batchnorm(build_run(build_config(None, base)).trainer.D)
    off = build_run(build_config(None, base + ["model.d_batchnorm=false"])).trainer.D
    assert not has_batchnorm(off)


def test_mlp_has_no_batchnorm_in_D_and_refuses_it_when_asked():
    run = build_run(build_config(None, ["data=ring8", "model=mlp", "data.limit=256"]))
    assert not has_batchnorm(run.trainer.D)
    with pytest.raises(UserError, match="d_batchnorm=true needs model=dcgan"):
        build_run(build_config(None, ["data=ring8", "model=mlp", "model.d_batchnorm=true"]))


def test_the_data_source_is_said():
    run = build_run(build_config(None, [f"data.root={SLICE}", "data.limit=64", "model.width=8"]))
    assert run.notes[0].startswith("Fashion-MNIST") and SLICE in run.notes[0]
