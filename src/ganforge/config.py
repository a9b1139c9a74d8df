"""Typed run configuration: dataclasses, YAML in and out, ``key=value`` overrides.

Every key has a type and, where it is a choice, a list of valid values; an unknown key or a bad
value is a :class:`UserError` that names the key and the nearest valid one. ``data=ring8`` and
``model=mlp`` are shorthands for ``data.name=ring8`` and ``model.name=mlp``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .data.range_check import SCALES
from .errors import UserError, nearest
from .losses import LOSSES

# Choices that are validated here; the registries they mirror are checked in tests.
SCHEDULES = ("alternating", "onestep")
ONESTEP_IMPLS = ("fused", "stopgrad")
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "step", "linear", "cosine", "exponential")


@dataclass
class DataConfig:
    name: str = "fashion-mnist"    # fashion-mnist | ring8 | grid25 | path to a folder/.npy/.npz
    root: str | None = None        # where fashion-mnist's IDX files are (default: Debian's)
    scale: str = "check"           # check: stop on a range mismatch | auto: rescale | off
    limit: int | None = None       # use only the first N samples


@dataclass
class ModelConfig:
    name: str = "dcgan"            # dcgan | mlp
    z_dim: int = 100
    width: int = 64                # DCGAN base channel count / MLP hidden size
    d_batchnorm: bool | None = None  # BatchNorm in D's hidden layers; None: on for dcgan
    d_dropout: float = 0.0         # dropout after D's activations
    spectral_norm: bool = False    # spectral normalization on every D layer (Miyato et al.)
    d_minibatch_stddev: bool = False  # minibatch standard-deviation layer in D's head
    d_minibatch_disc: int = 0      # minibatch discrimination kernels in D's head; 0 off


@dataclass
class OptimConfig:
    name: str = "adam"
    betas: tuple[float, float] = (0.5, 0.999)
    momentum: float = 0.0
    weight_decay: float = 0.0
    eps: float = 1e-8


@dataclass
class LRScheduleConfig:
    name: str = "constant"
    step_size: int = 1000          # step: multiply by gamma every step_size iterations
    gamma: float = 0.5             # step/exponential factor
    end_factor: float = 0.0        # linear: final lr = lr * end_factor at the last step


@dataclass
class RegConfig:
    """Penalties and constraints (docs/stabilization.md). 0 turns a term off."""
    gp: float = 0.0                # WGAN-GP weight lambda: (||grad D(x_hat)|| - 1)^2
    gp_one_sided: bool = False     # max(0, ||grad|| - 1)^2 instead
    dragan: float = 0.0            # DRAGAN weight
    r1: float = 0.0                # R1 gamma (applied as gamma/2 E||grad D(real)||^2)
    r2: float = 0.0                # R2 gamma (the same on fake)
    interval: int = 1              # lazy regularization: every k-th D step, weight x k
    clip_D: float = 0.0            # WGAN weight clipping of D to [-c, c]
    l2_G: float = 0.0              # L2 weight penalties per network
    l2_D: float = 0.0
    grad_clip_G: float = 0.0       # max gradient norm per network
    grad_clip_D: float = 0.0


@dataclass
class AugmentConfig:
    policy: str = ""               # DiffAugment: comma list of color,translation,cutout; "" off
    p: float = 1.0                 # probability per transform and sample


@dataclass
class NoiseConfig:
    sigma: float = 0.0             # instance noise std on every D input; 0 off
    anneal_steps: int = 0          # linear decay to 0 over this many D steps; 0: constant


@dataclass
class EMAConfig:
    half_life_images: float = 0.0  # EMA of G's weights; 0 off (StyleGAN2: 10,000 images)
    rampup: float | None = None    # ADA's ramp-up (0.05): half-life <= images_seen * rampup


@dataclass
class EvalConfig:
    every: int = 0                 # metrics every N steps during training; 0: off
    metrics: str = "auto"          # comma-separated fid,kid,pr,dc,is,classes,modes, or auto
    n: int = 2000                  # generated (and real) samples per evaluation
    feature_net: str = "default"   # default | identity | path to a TorchScript file


@dataclass
class Config:
    preset: str | None = None       # a recipe from the papers (ganforge presets)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: str = "nonsaturating"
    schedule: str = "alternating"   # or onestep: simultaneous updates (see docs/onestep.md)
    onestep_impl: str = "fused"     # onestep only: fused (least work) or stopgrad (reference)
    reuse_fake: bool = False        # alternating only: the G step reuses the D step's z
    steps: int = 3000
    batch_size: int = 64
    seed: int = 0
    run_dir: str | None = None     # default: runs/<data>-<model>-<loss>[-N]
    d_steps: int = 1
    g_steps: int = 1
    lr_G: float = 2e-4
    lr_D: float = 2e-4
    optim_G: OptimConfig = field(default_factory=OptimConfig)
    optim_D: OptimConfig = field(default_factory=OptimConfig)
    lr_schedule_G: LRScheduleConfig = field(default_factory=LRScheduleConfig)
    lr_schedule_D: LRScheduleConfig = field(default_factory=LRScheduleConfig)
    precision: str = "fp32"
    channels_last: bool = False     # NHWC memory format for image models (faster with bf16)
    device: str = "auto"
    log_every: int = 50
    sample_every: int = 500
    n_samples: int = 64
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    tensorboard: bool = True
    reg: RegConfig = field(default_factory=RegConfig)
    label_smoothing: float = 0.0    # one-sided: D's real target 1 - s
    feature_matching: float = 0.0   # weight of feature matching in G's loss
    historical_averaging: float = 0.0  # weight of each player's historical averaging term
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    balance: str = "off"            # off | auto | ada | smoothing | ratio (docs/doctor.md)
    eval: EvalConfig = field(default_factory=EvalConfig)  # metrics during training


CHOICES: dict[str, tuple[str, ...]] = {
    "loss": tuple(LOSSES),
    "schedule": SCHEDULES,
    "onestep_impl": ONESTEP_IMPLS,
    "balance": ("off", "auto", "ada", "smoothing", "ratio"),
    "precision": ("fp32", "bf16"),
    "data.scale": SCALES,
    "model.name": ("dcgan", "mlp"),
    "optim_G.name": OPTIMIZERS, "optim_D.name": OPTIMIZERS,
    "lr_schedule_G.name": LR_SCHEDULES, "lr_schedule_D.name": LR_SCHEDULES,
}
POSITIVE = {"steps", "batch_size", "d_steps", "g_steps", "lr_G", "lr_D", "model.z_dim",
            "model.width", "n_samples", "keep_checkpoints", "lr_schedule_G.step_size",
            "lr_schedule_D.step_size", "eval.n", "reg.interval"}
NON_NEGATIVE = {"log_every", "sample_every", "checkpoint_every", "model.d_dropout", "seed",
                "eval.every", "model.d_minibatch_disc", "reg.gp", "reg.dragan", "reg.r1",
                "reg.r2", "reg.clip_D", "reg.l2_G", "reg.l2_D", "reg.grad_clip_G",
                "reg.grad_clip_D", "label_smoothing", "feature_matching",
                "historical_averaging", "augment.p", "noise.sigma", "noise.anneal_steps",
                "ema.half_life_images"}
SHORTHAND = {"data": "name", "model": "name"}   # data=ring8 means data.name=ring8


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Convert ``value`` (from YAML or a command line string) to the field's type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "")):
            return None
        hint = next(a for a in args if a is not type(None))
        return _coerce(key, value, hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "on"):
                return True
            if str(value).lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(float(value)) if isinstance(value, str) and "e" in value.lower() \
                else int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str:
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        if origin is tuple:
            if isinstance(value, str):
                value = [v for v in value.strip("[]() ").split(",") if v.strip()]
            if len(value) != len(args):
                raise ValueError
            return tuple(_coerce(key, v, a) for v, a in zip(value, args))
    except (ValueError, TypeError):
        kind = {bool: "true or false", int: "a whole number", float: "a number",
                str: "a string"}.get(hint, f"{len(args)} numbers like [0.5, 0.999]")
        raise UserError(f"{key} must be {kind}, got {value!r}") from None
    raise TypeError(f"unsupported config type {hint} for {key}")


def _set(obj: Any, dotted: str, value: Any, full_key: str | None = None) -> None:
    full_key = full_key or dotted
    head, _, rest = dotted.partition(".")
    names = [f.name for f in fields(obj)]
    if head not in names:
        prefix = full_key[: len(full_key) - len(dotted)]
        hint = nearest(head, names)
        if hint:
            hint = hint.replace("'", "'" + prefix, 1)
        raise UserError(f"unknown config key {full_key!r}{hint}"
                        + ("" if hint else f"; valid keys here: "
                           f"{', '.join(prefix + n for n in names)}"))
    current = getattr(obj, head)
    if dataclasses.is_dataclass(current):
        if rest:
            _set(current, rest, value, full_key)
        elif isinstance(value, dict):
            for k, v in value.items():
                _set(current, str(k), v, f"{full_key}.{k}")
        elif head in SHORTHAND:
            _set(current, SHORTHAND[head], value, f"{full_key}.{SHORTHAND[head]}")
        else:
            raise UserError(f"{full_key} is a section: set one of its keys, e.g. "
                            f"{full_key}.{fields(current)[0].name}=...")
        return
    if rest:
        raise UserError(f"{full_key}: {head} has no sub-keys")
    setattr(obj, head, _coerce(full_key, value, _hints(type(obj))[head]))


def _validate(cfg: Config) -> None:
    for key, choices in CHOICES.items():
        value = _get(cfg, key)
        if value not in choices:
            raise UserError(f"{key}={value!r} is not valid{nearest(value, choices)}; "
                            f"choose one of: {', '.join(choices)}")
    for key in POSITIVE:
        if not _get(cfg, key) > 0:
            raise UserError(f"{key} must be > 0, got {_get(cfg, key)!r}")
    for key in NON_NEGATIVE:
        if not _get(cfg, key) >= 0:
            raise UserError(f"{key} must be >= 0, got {_get(cfg, key)!r}")
    if not cfg.label_smoothing < 1:
        raise UserError(f"label_smoothing must be in [0, 1) (e.g. 0.1), got {cfg.label_smoothing}")
    if not cfg.model.d_dropout < 1:
        raise UserError(f"model.d_dropout must be < 1, got {cfg.model.d_dropout}")


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def parse_overrides(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"cannot read {item!r}: overrides are key=value, e.g. steps=500")
        pairs.append((key.strip(), value.strip()))
    return pairs


def build_config(base: dict | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the preset (if ``preset`` is set in ``base`` or ``overrides``), then
    ``base`` (a YAML mapping), then ``key=value`` overrides; validated. The user's own
    settings win over the preset's."""
    from .presets import get_preset

    pairs = parse_overrides(overrides or [])
    preset = next((v for k, v in reversed(pairs) if k == "preset"), (base or {}).get("preset"))
    cfg = Config()
    if preset not in (None, "", "none", "null"):
        for key, value in get_preset(str(preset)).overrides.items():
            _set(cfg, key, value)
    for key, value in (base or {}).items():
        _set(cfg, str(key), value)
    for key, value in pairs:
        _set(cfg, key, value)
    _validate(cfg)
    return cfg


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"config file {path} is not valid YAML: {err}".replace("\n", " "))
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must be a mapping of keys to values")
    return data


def to_dict(cfg: Config) -> dict:
    """Plain data (tuples as lists) for YAML and checkpoints."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    return plain(dataclasses.asdict(cfg))


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
