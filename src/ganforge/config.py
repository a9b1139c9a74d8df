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
SCHEDULES = ("alternating",)
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
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: str = "nonsaturating"
    schedule: str = "alternating"
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
    device: str = "auto"
    log_every: int = 50
    sample_every: int = 500
    n_samples: int = 64
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    tensorboard: bool = True


CHOICES: dict[str, tuple[str, ...]] = {
    "loss": tuple(LOSSES),
    "schedule": SCHEDULES,
    "precision": ("fp32", "bf16"),
    "data.scale": SCALES,
    "model.name": ("dcgan", "mlp"),
    "optim_G.name": OPTIMIZERS, "optim_D.name": OPTIMIZERS,
    "lr_schedule_G.name": LR_SCHEDULES, "lr_schedule_D.name": LR_SCHEDULES,
}
POSITIVE = {"steps", "batch_size", "d_steps", "g_steps", "lr_G", "lr_D", "model.z_dim",
            "model.width", "n_samples", "keep_checkpoints", "lr_schedule_G.step_size",
            "lr_schedule_D.step_size"}
NON_NEGATIVE = {"log_every", "sample_every", "checkpoint_every", "model.d_dropout", "seed"}
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
    """Defaults, then ``base`` (a YAML mapping), then ``key=value`` overrides; validated."""
    cfg = Config()
    for key, value in (base or {}).items():
        _set(cfg, str(key), value)
    for key, value in parse_overrides(overrides or []):
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
