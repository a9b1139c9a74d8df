"""Presets: only known config keys, the papers' values, a readable table."""

import pytest

from ganforge.config import build_config
from ganforge.errors import UserError
from ganforge.presets import PRESETS, describe_presets, get_preset

# The config keys a preset may set (optim betas are one field, OptimConfig.betas).
ALLOWED = {
    "loss", "d_steps", "lr_G", "lr_D", "optim_G.name", "optim_D.name", "optim_G.betas",
    "optim_D.betas", "model.spectral_norm", "model.d_batchnorm", "reg.gp", "reg.gp_one_sided",
    "reg.r1", "reg.r2", "reg.dragan", "reg.interval", "reg.clip_D", "ema.half_life_images",
    "ema.rampup", "lr_schedule_G.name", "lr_schedule_D.name", "sample_mode",
    "model.g_batchnorm", "model.init",
}


def test_every_preset_uses_allowed_keys_and_is_described():
    assert set(PRESETS) == {"dcgan", "wgan", "wgan-gp", "sngan", "r1", "sharp", "ttur"}
    for name, (description, overrides, paper) in PRESETS.items():
        assert set(overrides) <= ALLOWED, (name, set(overrides) - ALLOWED)
        assert overrides and description.strip() and paper.strip()
        if "optim_G.betas" in overrides:
            assert len(overrides["optim_G.betas"]) == 2


@pytest.mark.parametrize("name, expected", [
    ("sharp", {"loss": "hinge", "d_steps": 1, "model.spectral_norm": True, "lr_G": 2e-4,
               "lr_D": 8e-4, "optim_D.betas": (0.0, 0.9), "model.d_batchnorm": False,
               "model.g_batchnorm": False, "model.init": "torch",
               "ema.half_life_images": 500000.0, "ema.rampup": 0.05, "sample_mode": "eval"}),
    ("dcgan", {"loss": "nonsaturating", "lr_G": 2e-4, "lr_D": 2e-4,
               "optim_D.betas": (0.5, 0.999)}),
    ("wgan", {"loss": "wasserstein", "reg.clip_D": 0.01, "optim_D.name": "rmsprop",
              "lr_D": 5e-5, "lr_G": 5e-5, "d_steps": 5}),
    ("wgan-gp", {"loss": "wasserstein", "reg.gp": 10.0, "optim_G.betas": (0.0, 0.9),
                 "lr_D": 1e-4, "d_steps": 5, "model.d_batchnorm": False}),
    ("sngan", {"loss": "hinge", "model.spectral_norm": True, "optim_D.betas": (0.0, 0.9),
               "lr_D": 2e-4}),
    ("r1", {"loss": "nonsaturating", "reg.r1": 10.0, "reg.interval": 16}),
    ("ttur", {"lr_D": 4e-4, "lr_G": 1e-4}),
])
def test_paper_values(name, expected):
    overrides = get_preset(name).overrides
    for key, value in expected.items():
        assert overrides[key] == value, key


def test_sharp_keeps_its_rates_constant():
    # v5 (docs/stabilization.md): annealing to 0 widened the ring's modes; the samples come
    # from a long EMA of G at constant rates instead
    cfg = build_config(None, ["preset=sharp"])
    assert cfg.lr_schedule_G.name == cfg.lr_schedule_D.name == "constant"
    assert (cfg.lr_G, cfg.lr_D) == (2e-4, 8e-4)


def test_sharp_with_projection_names_the_preset():
    # sharp turns G's BatchNorm off; projection needs it: the message names the preset's key
    with pytest.raises(UserError, match=r"preset=sharp turns off BatchNorm in G .*add "
                                        r"model.g_batchnorm=true"):
        build_config(None, ["preset=sharp", "model.conditioning=projection"])
    cfg = build_config(None, ["preset=sharp", "model.conditioning=projection",
                              "model.g_batchnorm=true"])
    assert cfg.model.g_batchnorm and cfg.sample_mode == "eval"
    build_config(None, ["preset=sharp", "model.conditioning=concat"])


def test_describe_lists_every_preset_with_its_paper():
    text = describe_presets()
    flat = " ".join(text.split())   # undo the wrapping
    for name, preset in PRESETS.items():
        assert f"\n{name} " in "\n" + text
        assert " ".join(preset.paper.split()) in flat
    assert "reg.gp=10" in flat and "optim_D.betas=[0, 0.9]" in flat
    assert max(len(line) for line in text.splitlines()) <= 100


def test_unknown_preset_names_nearest():
    with pytest.raises(UserError, match="did you mean 'wgan-gp'"):
        get_preset("wgan_gp")
