"""Named training recipes from the papers: each is a set of dotted config overrides.

``PRESETS[name] = Preset(description, overrides, paper)``. A preset is applied on top of the
defaults and under the user's own settings (config file, key=value), so anything it sets can
still be changed. Only what the paper prescribes is set; the rest stays at ganforge's defaults.
``ganforge presets`` prints :func:`describe_presets`.
"""

from __future__ import annotations

import textwrap
from typing import Any, NamedTuple

from .errors import UserError, nearest


class Preset(NamedTuple):
    description: str
    overrides: dict[str, Any]
    paper: str


def _adam(lr_G: float, lr_D: float, betas: tuple[float, float]) -> dict[str, Any]:
    return {"lr_G": lr_G, "lr_D": lr_D, "optim_G.name": "adam", "optim_D.name": "adam",
            "optim_G.betas": betas, "optim_D.betas": betas}


PRESETS: dict[str, Preset] = {
    "dcgan": Preset(
        "non-saturating loss, Adam 2e-4 with beta1 0.5 for both networks (section 4); the "
        "default config trains at 4x this rate since it measured faster (docs/stabilization.md)",
        {"loss": "nonsaturating", "d_steps": 1, **_adam(2e-4, 2e-4, (0.5, 0.999))},
        "Radford, Metz & Chintala 2016, Unsupervised Representation Learning with DCGANs",
    ),
    "wgan": Preset(
        "Wasserstein critic with weights clipped to [-0.01, 0.01], RMSprop 5e-5, "
        "5 critic steps per G step (Algorithm 1)",
        {"loss": "wasserstein", "d_steps": 5, "lr_G": 5e-5, "lr_D": 5e-5,
         "optim_G.name": "rmsprop", "optim_D.name": "rmsprop", "reg.clip_D": 0.01},
        "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN",
    ),
    "wgan-gp": Preset(
        "Wasserstein critic with gradient penalty lambda 10, Adam 1e-4 betas (0, 0.9), "
        "5 critic steps (Algorithm 1); no batchnorm in the critic (section 4: it breaks the "
        "per-sample penalty). On low-dimensional toy data use reg.gp=0.1, the authors' own toy "
        "setting: at 10 the 2-D mixtures collapse (docs/stabilization.md)",
        {"loss": "wasserstein", "d_steps": 5, "reg.gp": 10.0, "model.d_batchnorm": False,
         **_adam(1e-4, 1e-4, (0.0, 0.9))},
        "Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
    ),
    "sngan": Preset(
        "hinge loss, spectral norm on every D layer, Adam 2e-4 betas (0, 0.9), 5 D steps "
        "(the paper's hinge/ResNet setting); no batchnorm in D",
        {"loss": "hinge", "d_steps": 5, "model.spectral_norm": True,
         "model.d_batchnorm": False, **_adam(2e-4, 2e-4, (0.0, 0.9))},
        "Miyato et al. 2018, Spectral Normalization for GANs",
    ),
    "r1": Preset(
        "non-saturating loss with the R1 penalty gamma/2 E||grad D(x)||^2, gamma 10 (the "
        "paper's value; StyleGAN2 tunes gamma per dataset), computed every 16 D steps with "
        "16x the weight (lazy regularization); no batchnorm in D",
        {"loss": "nonsaturating", "reg.r1": 10.0, "reg.interval": 16,
         "model.d_batchnorm": False},
        "Mescheder, Geiger & Nowozin 2018, Which Training Methods for GANs do actually "
        "Converge?; lazy interval from Karras et al. 2020 (StyleGAN2)",
    ),
    "sharp": Preset(
        "precise samples: the SN-GAN objective (hinge loss, spectral norm on every D layer, "
        "no batchnorm in D) with one D step per G step, TTUR (Adam lr_D 8e-4 = 4 x lr_G 2e-4, "
        "betas (0, 0.9)) at constant rates, samples from a long EMA of G (half-life 500,000 "
        "images, ramp-up 0.05), and ganforge's G without batchnorm, initialised PyTorch's "
        "way (batchnorm shifts each fake by its batch's statistics; the DCGAN init relies on "
        "batchnorm). Your own G with batchnorm is sampled in eval mode. Measured on the 2-D "
        "mixtures (docs/stabilization.md, 'Sharp samples'); on a short image run (3,000 "
        "Fashion-MNIST steps) the default is better",
        {"loss": "hinge", "d_steps": 1, "model.spectral_norm": True,
         "model.d_batchnorm": False, "model.g_batchnorm": False, "model.init": "torch",
         **_adam(2e-4, 8e-4, (0.0, 0.9)),
         "ema.half_life_images": 500000.0, "ema.rampup": 0.05, "sample_mode": "eval"},
        "Miyato et al. 2018 (spectral norm, hinge); Heusel et al. 2017 (TTUR); Karras et al. "
        "2018 and 2020 (EMA of G, ramp-up); the rates, the EMA's length, G without batchnorm "
        "and the sampling mode measured here",
    ),
    "ttur": Preset(
        "two time-scale update rule: D learns 4x faster than G (Adam lr_D 4e-4, lr_G 1e-4, "
        "betas (0, 0.9)), the pair SAGAN used; Heusel et al. searched a pair per experiment",
        _adam(1e-4, 4e-4, (0.0, 0.9)),
        "Heusel et al. 2017, GANs Trained by a Two Time-Scale Update Rule; values from "
        "Zhang et al. 2019, Self-Attention GANs",
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}{nearest(name, PRESETS)}; choose one of: "
                        f"{', '.join(PRESETS)} (ganforge presets lists them)")
    return PRESETS[name]


def _value(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return str(v).lower()
    return f"{v:g}" if isinstance(v, float) else str(v)


def describe_presets(columns: int = 100) -> str:
    """A plain-text table of the presets: name, what it does, what it sets, its paper;
    wrapped to ``columns``."""
    width = max(len(name) for name in PRESETS) + 2
    lines = []
    for name, preset in PRESETS.items():
        settings = " ".join(f"{k}={_value(v)}" for k, v in preset.overrides.items())
        for label, text in (("", preset.description), ("sets: ", settings),
                            ("paper: ", preset.paper)):
            first = f"{name:<{width}}" if not label else " " * width
            lines += textwrap.wrap(text, columns, initial_indent=first + label,
                                   subsequent_indent=" " * (width + len(label)),
                                   break_on_hyphens=False)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
