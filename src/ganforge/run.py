"""From a Config to a ready Trainer, a run directory and its callbacks.

Layout of a run directory ``runs/<name>/``::

    config.yaml          the fully resolved config
    metrics.jsonl        one JSON object per logged step (means since the previous line)
    tb/                  TensorBoard event files: scalars and sample grids
    samples/             step_XXXXXXX.png grids from a fixed z
    checkpoints/         step_XXXXXXX.pt, complete and written atomically; the last N kept
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import __version__
from .augment import DiffAugment
from .callbacks import Checkpointer, JSONLLogger, Progress, SampleGrid, TensorBoardLogger
from .checkpoint import load_latest, signature, signature_differences
from .config import Config, LRScheduleConfig, OptimConfig, build_config, dump_yaml, read_yaml, to_dict
from .data import Batches, Dataset, load_dataset
from .doctor.callback import DiversityProbe, Doctor, probe_interval
from .ema import EMA
from .errors import UserError
from .nets import build_nets
from .noise import InstanceNoise
from .objective import Objective
from .regularizers import apply_spectral_norm, build_penalties
from .trainer import Trainer

# Keys that may change when a run is resumed; anything else would make it a different run.
RESUMABLE_KEYS = {"steps", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints",
                  "tensorboard", "device", "run_dir", "eval"}


def make_optimizer(cfg: OptimConfig, module: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    params = module.parameters()
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=cfg.betas, eps=cfg.eps,
                                weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=cfg.betas, eps=cfg.eps,
                                 weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, eps=cfg.eps, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def make_lr_schedule(cfg: LRScheduleConfig, opt: torch.optim.Optimizer, steps: int):
    """A torch scheduler stepped once per iteration, or None for a constant rate."""
    sched = torch.optim.lr_scheduler
    if cfg.name == "constant":
        return None
    if cfg.name == "step":
        return sched.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.name == "exponential":
        return sched.ExponentialLR(opt, gamma=cfg.gamma)
    if cfg.name == "linear":
        return sched.LinearLR(opt, start_factor=1.0, end_factor=max(cfg.end_factor, 1e-8),
                              total_iters=steps)
    return sched.CosineAnnealingLR(opt, T_max=steps)


def default_run_dir(cfg: Config, root: Path = Path("runs")) -> Path:
    """runs/<data>-<model>-<loss>, with -2, -3, ... when taken."""
    data = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(cfg.data.name).stem or cfg.data.name)
    base = root / f"{data}-{cfg.model.name}-{cfg.loss}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _d_batchnorm(cfg: Config) -> bool:
    """Unset: BatchNorm in D's hidden layers for DCGAN (as Radford et al.), none for the MLP."""
    if cfg.model.d_batchnorm is None:
        return cfg.model.name == "dcgan"
    return cfg.model.d_batchnorm


@dataclass
class Run:
    cfg: Config
    trainer: Trainer
    dataset: Dataset
    batches: Batches
    notes: list[str] = field(default_factory=list)
    run_dir: Path | None = None


def build_objective(cfg: Config) -> Objective:
    """The extra terms and D-input transforms of ``cfg`` (docs/stabilization.md)."""
    reg = cfg.reg
    policy = tuple(x.strip() for x in cfg.augment.policy.split(",") if x.strip())
    return Objective(
        penalties=build_penalties(gp=reg.gp, gp_one_sided=reg.gp_one_sided, r1=reg.r1,
                                  r2=reg.r2, dragan=reg.dragan, l2_D=reg.l2_D,
                                  interval=reg.interval),
        real_label=1.0 - cfg.label_smoothing, feature_matching=cfg.feature_matching,
        historical_averaging=cfg.historical_averaging, l2_G=reg.l2_G, clip_D=reg.clip_D,
        grad_clip_G=reg.grad_clip_G, grad_clip_D=reg.grad_clip_D,
        augment=DiffAugment(p=cfg.augment.p, policy=policy) if policy else None,
        noise=(InstanceNoise(cfg.noise.sigma, cfg.noise.anneal_steps or None)
               if cfg.noise.sigma > 0 else None),
        seed=cfg.seed)


def build_run(cfg: Config) -> Run:
    """Data, networks, optimizers, schedulers and the Trainer, checked before any step."""
    torch.manual_seed(cfg.seed)  # network init is part of the seeded run
    dataset = load_dataset(cfg.data.name, root=cfg.data.root, limit=cfg.data.limit,
                           seed=cfg.seed)
    G, D = build_nets(cfg.model.name, dataset.sample_shape, cfg.model.z_dim, cfg.model.width,
                      d_batchnorm=_d_batchnorm(cfg), d_dropout=cfg.model.d_dropout,
                      d_minibatch_stddev=cfg.model.d_minibatch_stddev,
                      d_minibatch_disc=cfg.model.d_minibatch_disc)
    if cfg.model.spectral_norm:
        apply_spectral_norm(D)   # before opt_D is built: it must hold the new parameters
    opt_G = make_optimizer(cfg.optim_G, G, cfg.lr_G)
    opt_D = make_optimizer(cfg.optim_D, D, cfg.lr_D)
    trainer = Trainer(
        G, D, opt_G, opt_D, loss=cfg.loss, schedule=cfg.schedule, d_steps=cfg.d_steps,
        g_steps=cfg.g_steps, sched_G=make_lr_schedule(cfg.lr_schedule_G, opt_G, cfg.steps),
        sched_D=make_lr_schedule(cfg.lr_schedule_D, opt_D, cfg.steps),
        precision=cfg.precision, device=cfg.device, seed=cfg.seed, batch_size=cfg.batch_size,
        data_scale=cfg.data.scale, channels_last=cfg.channels_last,
        onestep_impl=cfg.onestep_impl if cfg.schedule == "onestep" else None,
        reuse_fake=cfg.reuse_fake or None, objective=build_objective(cfg),
        ema=(EMA(G, cfg.ema.half_life_images, cfg.ema.rampup) if cfg.ema.half_life_images
             else None))
    trainer.balance(cfg.balance, images=dataset.kind == "image")
    # The data checks run here, before a run directory exists, so bad data costs nothing.
    batches = trainer.prepare_data(Batches(dataset.x, cfg.batch_size, seed=cfg.seed))
    return Run(cfg, trainer, dataset, batches, [dataset.source, *trainer.notes])


def fixed_z(cfg: Config, z_shape: tuple[int, ...], n: int | None = None) -> torch.Tensor:
    """The latents of the sample grids: a function of the seed only."""
    gen = torch.Generator().manual_seed(cfg.seed + 7919)
    return torch.randn((n or cfg.n_samples, *z_shape), generator=gen)


def attach_run_dir(run: Run, run_dir: Path, progress: bool = True) -> None:
    """Write config.yaml and attach the logging, sample and checkpoint callbacks."""
    cfg, trainer = run.cfg, run.trainer
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_yaml(cfg))
    tb = TensorBoardLogger(run_dir / "tb", cfg.log_every) if cfg.tensorboard else None
    reference = run.batches.x[:2500] if run.dataset.kind == "points" else None
    # A scatter plot needs more than a grid's worth: 2,500 is the PacGAN evaluation count.
    n_points = max(cfg.n_samples, 2500) if reference is not None else cfg.n_samples
    callbacks = [  # in this order: the TensorBoard writer opens before the first grid
        JSONLLogger(run_dir / "metrics.jsonl", cfg.log_every),
        *([tb] if tb else []),
        SampleGrid(run_dir / "samples", fixed_z(cfg, trainer.players.z_shape, n_points),
                   cfg.sample_every, reference=reference, tensorboard=tb),
        Checkpointer(run_dir / "checkpoints", cfg.checkpoint_every, cfg.keep_checkpoints,
                     extra=lambda: {"config": to_dict(cfg), "version": __version__,
                                    "signature": signature(trainer.G, trainer.D)}),
    ]
    if cfg.eval.every > 0:  # after the loggers (file trimmed, tb open), before the checkpoint
        from .metrics.callback import EvalCallback

        callbacks.insert(len(callbacks) - 1, EvalCallback(
            run_dir / "metrics.jsonl", cfg.eval.every, run.batches.x, cfg.data.name,
            run.dataset.kind, cfg.eval.metrics, cfg.eval.n, cfg.seed, cfg.eval.feature_net, tb))
    # The probe first (its diag/ values go into the step's stats before the loggers see
    # them); the doctor after every writer of metrics.jsonl, whose rows it reads.
    callbacks.insert(0, DiversityProbe(run.batches.x, probe_interval(cfg.log_every)))
    callbacks.append(Doctor(run_dir, cfg.log_every, metrics=run_dir / "metrics.jsonl"))
    if progress:
        callbacks.append(Progress(cfg.log_every))
    trainer.callbacks = callbacks
    run.run_dir = run_dir


def config_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """``key: saved -> current`` for every leaf that differs."""
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the run, {b!r} now")
    return out


def resume_config(run_dir: Path, config_file: str | None, overrides: list[str]) -> Config:
    """The run's own config, with only the keys in RESUMABLE_KEYS allowed to change."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        raise UserError(f"{run_dir} is not a ganforge run directory (no config.yaml); "
                        "pass the directory a previous `ganforge train` wrote")
    saved = read_yaml(saved_path)
    base = read_yaml(config_file) if config_file else saved
    cfg = build_config(base, overrides)
    changed = [d for d in config_differences(to_dict(build_config(saved)), to_dict(cfg))
               if d.split(":")[0].split(".")[0] not in RESUMABLE_KEYS]
    if changed:
        raise UserError("cannot resume with a different setup: " + "; ".join(changed[:4]) +
                        ". Only " + ", ".join(sorted(RESUMABLE_KEYS)) + " may change on "
                        "resume; start a new run for the rest")
    cfg.run_dir = str(run_dir)
    return cfg


def restore(run: Run, run_dir: Path) -> Path:
    """Load the newest readable checkpoint of ``run_dir`` into ``run``; returns its path."""
    found = load_latest(run_dir / "checkpoints")
    if found is None:
        raise UserError(f"{run_dir} has no checkpoint to resume from (checkpoints/ is empty); "
                        "start it again without --resume")
    path, state = found
    diffs = signature_differences(state.get("signature", {}),
                                  signature(run.trainer.G, run.trainer.D))
    if diffs:
        raise UserError(f"the checkpoint {path} is from a different model: " + "; ".join(diffs))
    run.trainer.load_state_dict(state)
    return path
