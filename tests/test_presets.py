"""Presets: only known config keys, the papers' values, a readable table."""

import pytest

from ganforge.errors import UserError
from ganforge.presets import PRESETS, describe_presets, get_preset

# The config keys a preset may set (optim betas are one field, OptimConfig.betas).
ALLOWED = {
    "loss", "d_steps", "lr_G", "lr_D", "optim_G.name", "optim_D.name", "optim_G.betas",
    "optim_D.betas", "model.spectral_norm", "model.d_batchnorm", "reg.gp", "reg.gp_one_sided",
    "reg.r1", "reg.r2", "reg.dragan", "reg.interval", "reg.clip_D", "ema.half_life_images",
    "ema.rampup", "lr_schedule_G.name", "lr_schedule_D.name", "sample_mode",
}


def test_every_preset_uses_allowed_keys_and_is_described():
    assert set(PRESETS) == {"dcgan", "wgan", "wgan-gp", "sngan", "r1", "sharp", "ttur"}
    for name, (description, overrides, paper) in PRESETS.items():
        assert set(overrides) <= ALLOWED, (name, set(overrides) - ALLOWED)
        assert overrides and description.strip() and paper.strip()
        if "optim_G.betas" in overrides:
            assert len(overrides["optim_G.betas"]) == 2


@pytest.mark.parametrize("name, expected", [
    ("sharp", {"loss": "hinge", "d_steps": 1, "model.spectral_norm": True, "lr_G": 4e-4,
               "lr_D": 1.6e-3, "optim_D.betas": (0.0, 0.9), "lr_schedule_G.name": "cosine",
               "lr_schedule_D.name": "cosine", "ema.half_life_images": 20000.0,
               "ema.rampup": 0.05, "sample_mode": "eval"}),
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
