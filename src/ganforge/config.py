"""Typed run configuration: dataclasses, YAML in and out, ``key=value`` overrides.

Every key has a declared type and range (:func:`setting`), checked once, when the key is
parsed, whether it comes from the command line, a YAML file or a preset; choices are read from
the registries that own them (losses, schedules, optimizers, ...), which import without torch,
so every config error is reported before torch is imported (well under a second). Rules that
involve two keys are checked once all keys are set (:func:`check_combination`). An unknown key
or a bad value is a :class:`UserError` that names the key, the allowed values and the nearest
one. ``data=ring8`` and ``model=mlp`` are shorthands for ``data.name=ring8`` and
``model.name=mlp``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

import yaml

from .errors import UserError, nearest

MAX_COUNT = 10**12          # steps and intervals: far beyond any run, far below int64
SEED_MAX = 2**32 - 1        # numpy and the data order take seeds up to here


class Check(NamedTuple):
    """The declared range of one key, checked when the key is parsed (command line, YAML,
    preset) and for every default (tests/test_config.py). Numbers must be finite; ``ge``/``gt``/
    ``le``/``lt`` bound them (each element of a tuple); ``choices`` returns the registry the
    value must be a key of (read when checked, so the registry stays the only list);
    ``parse`` is the owner's own validation of a structured string (it raises UserError)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: Callable[[], Iterable[str]] | None = None
    parse: Callable[[Any], Any] | None = None
    why: str = ""            # said with a range error, e.g. what the value means


def setting(default: Any = None, *, factory: Callable[[], Any] | None = None,
            **check: Any) -> Any:
    """A config field with its declared range (see :class:`Check`)."""
    meta = {"check": Check(**check)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _losses():
    from .losses import LOSSES
    return LOSSES


def _schedules():
    from .steps import SCHEDULES
    return SCHEDULES


def _impls():
    from .steps.onestep import IMPLS
    return IMPLS


def _optimizers():
    from .optim import OPTIMIZERS
    return OPTIMIZERS


def _lr_schedules():
    from .optim import LR_SCHEDULES
    return LR_SCHEDULES


def _sample_modes():
    from .sampling import SAMPLE_MODES
    return SAMPLE_MODES


def _precisions():
    from .precision import PRECISIONS
    return PRECISIONS


def _scales():
    from .data.range_check import SCALES
    return SCALES


def _model_name(value: str) -> None:
    """ganforge's nets (mlp, dcgan) or a builder of your own (file.py:function)."""
    from .builder import is_builder, split_spec
    from .nets import NET_NAMES

    if is_builder(value):
        split_spec(value)
    elif value not in NET_NAMES:
        raise UserError(f"model.name={value!r} is not valid{nearest(value, NET_NAMES)}; choose "
                        f"one of: {', '.join(NET_NAMES)}, or your own networks as "
                        "path/to/file.py:function")


def _balance_modes():
    from .doctor.balance import MODES
    return MODES


def _presets():
    from .presets import PRESETS
    return PRESETS


def _augment_policy(text: str) -> str:
    from .augment import parse_policy
    parse_policy(text)
    return text


def _device(text: str) -> str:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", text):
        raise UserError(f"device={text!r} is not a device: use auto, cpu, cuda, cuda:N or mps")
    return text


def _metrics(text: str) -> str:
    from .metrics.names import parse_metrics
    parse_metrics(text, None)   # which names fit the data: check_combination
    return text


@dataclass
class DataConfig:
    name: str = setting("fashion-mnist")  # fashion-mnist | ring8 | grid25 | folder/.npy/.npz
    root: str | None = setting(None)      # where fashion-mnist's IDX files are (Debian's)
    scale: str = setting("check", choices=_scales)  # check | auto: rescale | off
    limit: int | None = setting(None, ge=1, le=MAX_COUNT)  # use only the first N samples
    xflip: bool = setting(False)          # mirror images left-right at random (per batch)
    # Class labels (docs/conditional.md). conditional: unset = on when model.conditioning is
    # set; classes: written by ganforge from the data (index = label), checked on resume.
    conditional: bool | None = setting(None)
    fake_labels: str = setting("data", choices=lambda: ("data", "uniform"))  # or uniform
    classes: list[str] | None = setting(None)


def _conditionings():
    from .nets.names import CONDITIONINGS
    return CONDITIONINGS


def _inits():
    from .nets.names import INITS
    return INITS


@dataclass
class ModelConfig:
    name: str = setting("dcgan", parse=_model_name)  # mlp | dcgan | path/to/file.py:function
    z_dim: int = setting(100, ge=1, le=4096)
    width: int = setting(64, ge=1, le=4096)  # DCGAN base channel count / MLP hidden size
    g_batchnorm: bool = setting(True)     # BatchNorm in G's hidden layers
    init: str = setting("paper", choices=_inits)  # the net's paper's (DCGAN: N(0, 0.02)) / torch
    d_batchnorm: bool | None = setting(None)  # BatchNorm in D's hidden layers; None: dcgan on
    d_dropout: float = setting(0.0, ge=0, lt=1)  # dropout after D's activations
    spectral_norm: bool | None = setting(None)  # on every D layer; unset: on for resnet only
    conditioning: str = setting("none", choices=_conditionings)  # docs/conditional.md
    d_minibatch_stddev: bool = setting(False)  # minibatch standard-deviation layer in D
    d_minibatch_disc: int = setting(0, ge=0, le=1024)  # minibatch discrimination kernels
    # Your own model.* keys, passed to a builder (model=file.py:function); in config.yaml
    # they sit beside the keys above.
    options: dict = field(default_factory=dict, metadata={"extra": True})


@dataclass
class OptimConfig:
    name: str = setting("adam", choices=_optimizers)
    betas: tuple[float, float] = setting((0.5, 0.999), ge=0, lt=1)
    momentum: float = setting(0.0, ge=0, lt=1)
    weight_decay: float = setting(0.0, ge=0)
    eps: float = setting(1e-8, gt=0, le=1)


@dataclass
class LRScheduleConfig:
    name: str = setting("constant", choices=_lr_schedules)
    step_size: int = setting(1000, ge=1, le=MAX_COUNT)  # step: x gamma every step_size steps
    gamma: float = setting(0.5, gt=0, le=1, why="the factor that decays the learning rate")
    end_factor: float = setting(0.0, ge=0, le=1)  # linear: final lr = lr * end_factor


@dataclass
class RegConfig:
    """Penalties and constraints (docs/stabilization.md). 0 turns a term off."""
    gp: float = setting(0.0, ge=0)          # WGAN-GP weight lambda: (||grad D(x_hat)|| - 1)^2
    gp_one_sided: bool = setting(False)     # max(0, ||grad|| - 1)^2 instead
    dragan: float = setting(0.0, ge=0)      # DRAGAN weight
    r1: float = setting(0.0, ge=0)          # R1 gamma (applied as gamma/2 E||grad D(real)||^2)
    r2: float = setting(0.0, ge=0)          # R2 gamma (the same on fake)
    interval: int = setting(1, ge=1, le=MAX_COUNT)  # lazy: every k-th D step, weight x k
    clip_D: float = setting(0.0, ge=0)      # WGAN weight clipping of D to [-c, c]
    l2_G: float = setting(0.0, ge=0)        # L2 weight penalties per network
    l2_D: float = setting(0.0, ge=0)
    grad_clip_G: float = setting(0.0, ge=0)  # max gradient norm per network
    grad_clip_D: float = setting(0.0, ge=0)


@dataclass
class AugmentConfig:
    policy: str = setting("", parse=_augment_policy)  # DiffAugment: color,translation,cutout
    p: float = setting(1.0, ge=0, le=1)     # probability per transform and sample


@dataclass
class NoiseConfig:
    sigma: float = setting(0.0, ge=0)       # instance noise std on every D input; 0 off
    anneal_steps: int = setting(0, ge=0, le=MAX_COUNT)  # linear decay to 0; 0: constant


@dataclass
class EMAConfig:
    half_life_images: float = setting(0.0, ge=0)  # EMA of G; 0 off (StyleGAN2: 10,000 images)
    rampup: float | None = setting(None, gt=0, le=1)  # ADA's ramp-up (0.05)


@dataclass
class EvalConfig:
    every: int = setting(0, ge=0, le=MAX_COUNT)   # metrics every N steps; 0: off
    metrics: str = setting("auto", parse=_metrics)  # fid,kid,pr,dc,is,classes,modes or auto
    n: int = setting(2000, ge=10, le=10**7)       # generated (and real) samples per evaluation
    feature_net: str = setting("default")  # default | identity | path to a TorchScript file


@dataclass
class Config:
    preset: str | None = setting(None, choices=_presets)  # a recipe (ganforge presets)
    data: DataConfig = setting(factory=DataConfig)
    model: ModelConfig = setting(factory=ModelConfig)
    loss: str = setting("nonsaturating", choices=_losses)
    schedule: str = setting("alternating", choices=_schedules)  # or onestep (docs/onestep.md)
    onestep_impl: str = setting("fused", choices=_impls)  # onestep: fused | stopgrad
    reuse_fake: bool = setting(False)       # alternating: the G step reuses the D step's z
    steps: int = setting(3000, ge=1, le=MAX_COUNT)
    batch_size: int = setting(64, ge=1, le=2**20)
    seed: int = setting(0, ge=0, le=SEED_MAX)
    run_dir: str | None = setting(None)     # default: runs/<data>-<model>-<loss>[-N]
    d_steps: int = setting(1, ge=1, le=1000)
    g_steps: int = setting(1, ge=1, le=1000)
    # Adam 8e-4 both (betas (0.5, 0.999)): 4x the DCGAN paper's 2e-4 (preset=dcgan), measured
    # a third lower FID in the same time on Fashion-MNIST (docs/stabilization.md, issue 16).
    lr_G: float = setting(8e-4, gt=0)
    lr_D: float = setting(8e-4, gt=0)
    optim_G: OptimConfig = setting(factory=OptimConfig)
    optim_D: OptimConfig = setting(factory=OptimConfig)
    lr_schedule_G: LRScheduleConfig = setting(factory=LRScheduleConfig)
    lr_schedule_D: LRScheduleConfig = setting(factory=LRScheduleConfig)
    # How G normalizes when it samples (grids, metrics, ganforge sample): train = each batch's
    # statistics, eval = BatchNorm's running averages (docs/stabilization.md, sharp samples).
    sample_mode: str = setting("train", choices=_sample_modes)
    precision: str = setting("auto", choices=_precisions)  # auto | fp32 | bf16 | fp16
    channels_last: bool = setting(False)    # NHWC memory format for image models
    compile: bool = setting(False)          # torch.compile G and D (for GPUs; slower on CPU)
    device: str = setting("auto", parse=_device)
    sync_bn: bool = setting(False)          # several CUDA processes: BatchNorm over all of them
    log_every: int = setting(50, ge=0, le=MAX_COUNT)
    sample_every: int = setting(500, ge=0, le=MAX_COUNT)
    n_samples: int = setting(64, ge=1, le=4096)
    checkpoint_every: int = setting(1000, ge=0, le=MAX_COUNT)
    keep_checkpoints: int = setting(3, ge=1, le=10**6)
    tensorboard: bool = setting(True)
    reg: RegConfig = setting(factory=RegConfig)
    label_smoothing: float = setting(0.0, ge=0, lt=1)  # one-sided: D's real target 1 - s
    feature_matching: float = setting(0.0, ge=0)  # weight of feature matching in G's loss
    acgan_weight: float = setting(1.0, ge=0)  # model.conditioning=acgan: class loss weight
    acgan_d_fake: bool = setting(True)  # acgan: D's class loss on fakes too (false: real only)
    historical_averaging: float = setting(0.0, ge=0)  # weight of each player's term
    augment: AugmentConfig = setting(factory=AugmentConfig)
    noise: NoiseConfig = setting(factory=NoiseConfig)
    ema: EMAConfig = setting(factory=EMAConfig)
    balance: str = setting("off", choices=_balance_modes)  # off|auto|ada|smoothing|ratio
    eval: EvalConfig = setting(factory=EvalConfig)  # metrics during training


SHORTHAND = {"data": "name", "model": "name"}   # data=ring8 means data.name=ring8
# Config keys that are a schedule's options: key -> (schedule, its constructor's parameter).
# A non-default value under the other schedule is an error.
SCHEDULE_OPTIONS = {"d_steps": ("alternating", "d_steps"), "g_steps": ("alternating", "g_steps"),
                    "reuse_fake": ("alternating", "reuse_fake"),
                    "onestep_impl": ("onestep", "impl")}


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Convert ``value`` (from YAML or a command-line string) to the field's type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "")):
            return None
        hint = next(a for a in args if a is not type(None))
        return _coerce(key, value, hint)
    try:
        if value is None:
            raise ValueError
        if hint is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "on"):
                return True
            if str(value).lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if hint is int:
            if isinstance(value, bool) or isinstance(value, (dict, list)):
                raise ValueError
            if isinstance(value, int):
                return value
            number = float(value)   # "1e6" and 1000.0 are whole numbers, "1.5" is not
            if not number.is_integer():
                raise ValueError
            return int(value) if isinstance(value, str) and value.strip().lstrip("+-").isdigit() \
                else int(number)
        if hint is float:
            if isinstance(value, bool) or isinstance(value, (dict, list)):
                raise ValueError
            return float(value)
        if hint is str:
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        if origin is list:
            if isinstance(value, str):
                value = yaml.safe_load(value) if value.strip().startswith("[") else \
                    [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return [_coerce(key, v, args[0]) for v in value]
        if origin is tuple:
            if isinstance(value, str):
                value = [v for v in value.strip("[]() ").split(",") if v.strip()]
            if not isinstance(value, (list, tuple)) or len(value) != len(args):
                raise ValueError
            return tuple(_coerce(key, v, a) for v, a in zip(value, args))
    except (ValueError, TypeError, OverflowError, yaml.YAMLError):
        kind = _KINDS.get(hint, "a list of names like [a, b]" if origin is list
                          else f"{len(args)} numbers like [0.5, 0.999]")
        raise UserError(f"{key} must be {kind}, got {value!r}") from None
    raise TypeError(f"unsupported config type {hint} for {key}")


def _interval(check: Check) -> str:
    low = f"[{check.ge:g}" if check.ge is not None else f"({check.gt:g}" if check.gt is not None \
        else "(-inf"
    high = f"{check.le:g}]" if check.le is not None else f"{check.lt:g})" if check.lt is not None \
        else "inf)"
    return f"{low}, {high}"


def check_value(key: str, value: Any, check: Check) -> Any:
    """``value`` if it is in the declared range of ``key``; else a UserError naming both."""
    if value is None:
        return value
    if check.choices is not None:
        choices = list(check.choices())
        if value not in choices:
            raise UserError(f"{key}={value!r} is not valid{nearest(value, choices)}; choose one "
                            f"of: {', '.join(map(str, choices))}")
    if check.parse is not None:
        check.parse(value)
    for number in (value if isinstance(value, tuple) else (value,)):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            continue
        if not math.isfinite(number):
            raise UserError(f"{key} must be a finite number, got {value!r}")
        if ((check.ge is not None and not number >= check.ge)
                or (check.gt is not None and not number > check.gt)
                or (check.le is not None and not number <= check.le)
                or (check.lt is not None and not number < check.lt)):
            what = f" ({check.why})" if check.why else ""
            each = "each value of " if isinstance(value, tuple) else ""
            raise UserError(f"{key}={value!r} is out of range{what}: {each}{key} must be in "
                            f"{_interval(check)}")
    return value


def _set(obj: Any, dotted: str, value: Any, full_key: str | None = None) -> None:
    full_key = full_key or dotted
    head, _, rest = dotted.partition(".")
    by_name = {f.name: f for f in fields(obj)
               if not f.metadata.get("extra")}
    if head not in by_name and isinstance(obj, ModelConfig):
        _set_option(obj, head, rest, value, full_key)
        return
    if head not in by_name:
        prefix = full_key[: len(full_key) - len(dotted)]
        hint = nearest(head, by_name)
        if hint:
            hint = hint.replace("'", "'" + prefix, 1)
        raise UserError(f"unknown config key {full_key!r}{hint}"
                        + ("" if hint else f"; valid keys here: "
                           f"{', '.join(prefix + n for n in by_name)}"))
    current = getattr(obj, head)
    if dataclasses.is_dataclass(current):
        if rest:
            _set(current, rest, value, full_key)
        elif isinstance(value, dict):
            for k, v in value.items():
                _set(current, str(k), v, f"{full_key}.{k}")
        elif head in SHORTHAND and not isinstance(value, (list, tuple)):
            _set(current, SHORTHAND[head], value, f"{full_key}.{SHORTHAND[head]}")
        else:
            raise UserError(f"{full_key} is a section: set one of its keys, e.g. "
                            f"{full_key}.{fields(current)[0].name}=...")
        return
    if rest:
        raise UserError(f"{full_key}: {head} has no sub-keys")
    value = _coerce(full_key, value, _hints(type(obj))[head])
    setattr(obj, head, check_value(full_key, value, by_name[head].metadata["check"]))


def _set_option(model: "ModelConfig", head: str, rest: str, value: Any, full_key: str) -> None:
    """``model.<key>=value`` that is not one of ganforge's: kept for a builder (checked with
    the model name by :func:`check_combination`). A command-line value is read as YAML."""
    if rest or not head.isidentifier():
        raise UserError(f"{full_key}: a model option is one name, like model.depth=4")
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            pass
    if not _plain(value):
        raise UserError(f"{full_key} must be a number, text, true/false or a list of them, got "
                        f"{value!r}")
    model.options[head] = value


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def iter_keys(obj: Any, prefix: str = ""):
    """(dotted key, value, type hint, Check) of every leaf key of a config, in order."""
    hints = _hints(type(obj))
    for f in fields(obj):
        if f.metadata.get("extra"):
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from iter_keys(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value, hints[f.name], f.metadata["check"]


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _with_preset(preset: str | None) -> "Config":
    """The defaults with ``preset``'s settings: what a run gets before the user's own."""
    from .presets import get_preset

    cfg = Config()
    if preset not in (None, "", "none", "null"):
        for key, value in get_preset(str(preset)).overrides.items():
            _set(cfg, key, value)
    return cfg


def _check_model_options(model: "ModelConfig", default: "ModelConfig") -> None:
    """Own model.* keys go to a builder only; ganforge's net keys do nothing for one.
    ``default``: the defaults with the preset's settings (a preset's ``model.d_batchnorm=false``
    describes ganforge's D; the user's builder ignores it)."""
    from .builder import OWN_NET_KEYS, is_builder

    if not is_builder(model.name):
        if model.options:
            key = next(iter(model.options))
            names = [f.name for f in fields(model) if not f.metadata.get("extra")]
            raise UserError(f"unknown config key 'model.{key}'"
                            + (nearest(key, names).replace("'", "'model.", 1)
                               or f"; valid keys here: {', '.join('model.' + n for n in names)}")
                            + " (keys of your own go to a builder: model=file.py:function)")
        return
    for key in OWN_NET_KEYS:
        if getattr(model, key) != getattr(default, key):
            raise UserError(f"model.{key} configures ganforge's mlp/dcgan and does nothing for "
                            f"your builder {model.name}: drop it, or pass a key of your own "
                            "(it reaches the builder as a keyword)")


def check_combination(cfg: Config) -> None:
    """The rules that involve more than one key (one UserError each, naming both)."""
    from .doctor.balance import resolve_mode
    from .losses import LOSSES
    from .optim import LR_SCHEDULES, OPTIMIZERS

    defaults = Config()
    for key, (owner, _) in SCHEDULE_OPTIONS.items():
        value = getattr(cfg, key)
        if owner != cfg.schedule and value != getattr(defaults, key):
            raise UserError(f"{key}={value} applies to schedule={owner} only, not to "
                            f"schedule={cfg.schedule}: remove it or set schedule={owner}")
    make_schedule(cfg)   # the schedule's own checks
    if cfg.schedule == "onestep" and cfg.onestep_impl == "stopgrad" and cfg.feature_matching:
        raise UserError("feature_matching with schedule=onestep needs onestep_impl=fused (the "
                        "stop-gradient form would need a second stop-gradient pair for D's "
                        "features)")
    if cfg.label_smoothing and LOSSES[cfg.loss].d_real_smoothed is None:
        raise UserError(f"label_smoothing is defined for the cross-entropy and least-squares "
                        f"losses, not loss={cfg.loss}: drop it or choose saturating, "
                        "nonsaturating or least_squares")
    for net in ("G", "D"):
        for section, registry in ((f"optim_{net}", OPTIMIZERS),
                                  (f"lr_schedule_{net}", LR_SCHEDULES)):
            ours, default = getattr(cfg, section), getattr(defaults, section)
            unused = [f.name for f in fields(ours) if f.name != "name"
                      and f.name not in registry[ours.name].uses
                      and getattr(ours, f.name) != getattr(default, f.name)]
            if unused:
                raise UserError(f"{section}.{unused[0]}={getattr(ours, unused[0])!r} is not used "
                                f"by {section}.name={ours.name}: remove it, or choose a "
                                f"{section.split('_')[0]} that uses it")
    preset_model = _with_preset(cfg.preset).model
    _check_model_options(cfg.model, preset_model)
    if (cfg.model.conditioning == "projection" and not cfg.model.g_batchnorm
            and not preset_model.g_batchnorm and cfg.model.name in ("dcgan", "resnet")):
        raise UserError(f"preset={cfg.preset} turns off BatchNorm in G (model.g_batchnorm=false), "
                        "and model.conditioning=projection conditions G's BatchNorm on the "
                        "class: add model.g_batchnorm=true (samples are then drawn in eval "
                        "mode), or use model.conditioning=concat or acgan")
    if cfg.model.d_batchnorm and cfg.model.name == "mlp":
        raise UserError("model.d_batchnorm=true needs model=dcgan; the mlp discriminator has no "
                        "batchnorm (use model.d_dropout instead, or model=dcgan)")
    if cfg.data.root is not None and cfg.data.name != "fashion-mnist":
        raise UserError(f"data.root is only used by fashion-mnist, not by data={cfg.data.name}: "
                        "remove it, or give the folder/file path as data= itself")
    if cfg.data.xflip and cfg.data.name in ("ring8", "grid25"):
        raise UserError(f"data.xflip mirrors images; data={cfg.data.name} is 2-D points: drop "
                        "data.xflip")
    for key, needs in (("ema.rampup", "ema.half_life_images"),
                       ("noise.anneal_steps", "noise.sigma"), ("reg.gp_one_sided", "reg.gp")):
        if _get(cfg, key) and not _get(cfg, needs):
            raise UserError(f"{key} has no effect without {needs} > 0: set {needs} or drop {key}")
    if cfg.eval.metrics != "auto":
        from .metrics.names import parse_metrics
        parse_metrics(cfg.eval.metrics, cfg.data.name)
    resolve_mode(cfg.balance, None, LOSSES[cfg.loss], cfg.schedule)


def make_schedule(cfg: Config):
    """The schedule object of ``cfg``: ``Alternating(d_steps, g_steps, reuse_fake)`` or
    ``OneStep(impl)``."""
    from .steps import SCHEDULES

    options = {param: getattr(cfg, key) for key, (owner, param) in SCHEDULE_OPTIONS.items()
               if owner == cfg.schedule}
    return SCHEDULES[cfg.schedule](**options)


def parse_overrides(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"cannot read {item!r}: overrides are key=value, e.g. steps=500")
        pairs.append((key.strip(), value.strip()))
    return pairs


def build_config(base: dict | None = None, overrides: list[str] | None = None,
                 base_name: str | None = None) -> Config:
    """Defaults, then the preset (if ``preset`` is set in ``base`` or ``overrides``), then
    ``base`` (a YAML mapping; ``base_name``: its file, named in errors), then ``key=value``
    overrides; each value checked as it is set, then the combinations. The user's own
    settings win over the preset's."""
    pairs = parse_overrides(overrides or [])
    preset = next((v for k, v in reversed(pairs) if k == "preset"), (base or {}).get("preset"))
    cfg = _with_preset(preset)
    if preset not in (None, "", "none", "null"):
        _set(cfg, "preset", preset)
    for key, value in (base or {}).items():
        try:
            _set(cfg, str(key), value)
        except UserError as err:
            raise UserError(f"in {base_name}: {err}" if base_name else str(err)) from None
    for key, value in pairs:
        _set(cfg, key, value)
    from .builder import is_builder, normalize
    if is_builder(cfg.model.name):   # a file stored resolved: continue from any directory
        cfg.model.name = normalize(cfg.model.name)
    check_combination(cfg)
    return cfg


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """:func:`build_config` from a YAML file; errors in the file name it."""
    return build_config(read_yaml(path), overrides, base_name=str(path))


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
    out = plain(dataclasses.asdict(cfg))
    out["model"].update(out["model"].pop("options"))   # beside the model's other keys
    return out


def dump_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
