"""From a Config to a ready Trainer, and the callbacks that write a run directory.

The run directory's layout, and how ganforge starts and resumes one: ``rundir.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import __version__
from .augment import DiffAugment
from .builder import build as build_user_nets
from .builder import is_builder, untrusted_message
from .checkpoint import signature, signature_differences
from .config import Config, dump_yaml, make_schedule, to_dict
from .data import Batches, Dataset, load_dataset
from .data.labels import require_conditional
from .doctor.balance import balance
from .distributed import current_world, on_main
from .ema import EMA
from .errors import UserError
from .files import make_dirs, write_atomic
from .nets import build_nets
from .noise import InstanceNoise
from .objective import Objective
from .optim import make_lr_schedule, make_optimizer
from .regularizers import apply_spectral_norm, build_penalties
from .run_directory import grid_z, run_dir_callbacks
from .trainer import Trainer


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
    evaluation: tuple | None = None   # (metric names, feature net) when eval.every > 0


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


def build_run(cfg: Config, device: str | None = None, trust_model_code: bool | str = True
              ) -> Run:
    """Data, networks, optimizers, schedulers and the Trainer, checked before any step.
    ``device``: this process's device under torchrun (default: ``cfg.device``).
    ``trust_model_code``: whether a builder the config names (``model=file.py:function``)
    may be imported; a command name (``"sample"``) means no, and the error names the
    command (``builder.py``: a run directory is data)."""
    if is_builder(cfg.model.name) and trust_model_code is not True:
        raise UserError(untrusted_message(cfg.model.name, str(trust_model_code)))
    torch.manual_seed(cfg.seed)  # network init is part of the seeded run
    dataset = load_dataset(cfg.data.name, root=cfg.data.root, limit=cfg.data.limit,
                           seed=cfg.seed)
    num_classes = _classes(cfg, dataset)
    G, D = _networks(cfg, dataset.sample_shape, num_classes)
    if _spectral_norm(cfg):
        apply_spectral_norm(D)   # before opt_D is built: it must hold the new parameters
    if cfg.sync_bn:
        G, D = _sync_batchnorm(G, D, device or cfg.device)
    opt_G = make_optimizer(cfg.optim_G, G, cfg.lr_G)
    opt_D = make_optimizer(cfg.optim_D, D, cfg.lr_D)
    trainer = Trainer(
        G, D, opt_G, opt_D, loss=cfg.loss, schedule=make_schedule(cfg),
        objective=build_objective(cfg),
        ema=(EMA(G, cfg.ema.half_life_images, cfg.ema.rampup) if cfg.ema.half_life_images
             else None),
        sched_G=make_lr_schedule(cfg.lr_schedule_G, opt_G, cfg.steps),
        sched_D=make_lr_schedule(cfg.lr_schedule_D, opt_D, cfg.steps),
        precision=cfg.precision, channels_last=cfg.channels_last, compile=cfg.compile,
        device=device or cfg.device,
        z_dim=cfg.model.z_dim if is_builder(cfg.model.name) else None,   # ours carry it
        seed=cfg.seed, num_classes=num_classes,
        conditioning=(None if num_classes is None or cfg.model.conditioning == "none"
                      else cfg.model.conditioning),
        acgan_weight=cfg.acgan_weight, fake_labels=cfg.data.fake_labels,
        acgan_d_fake=cfg.acgan_d_fake, sample_mode=cfg.sample_mode)
    balance(trainer, cfg.balance, images=dataset.kind == "image")
    # The data checks run here, before a run directory exists, so bad data costs nothing.
    batches = Batches(dataset.samples, cfg.batch_size, seed=cfg.seed, xflip=cfg.data.xflip,
                      labels=dataset.labels if num_classes is not None else None)
    trainer.prepare(batches, data_scale=cfg.data.scale)
    evaluation = None
    if cfg.eval.every > 0:   # resolved here, so the dry run checks it too
        from .metrics.suite import resolve_eval

        evaluation = resolve_eval(cfg.eval.metrics, cfg.data.name, dataset.kind,
                                  dataset.sample_shape, cfg.eval.feature_net,
                                  conditional=num_classes is not None)
    return Run(cfg, trainer, dataset, batches, [dataset.source, *trainer.feed.notes],
               evaluation=evaluation)


def _spectral_norm(cfg: Config) -> bool:
    """Unset: on for the SN-GAN ResNet (as Miyato et al.), off otherwise."""
    if cfg.model.spectral_norm is None:
        return cfg.model.name == "resnet"
    return cfg.model.spectral_norm


def _classes(cfg: Config, dataset: Dataset) -> int | None:
    """The number of classes of a class-conditional run (read from the data), or None.
    Conditional when ``data.conditional`` says so, or (unset) when ``model.conditioning``
    is set. The class names go into config.yaml (``data.classes``); a config that already
    has them (a resumed run) must name the same classes in the same order."""
    method, wanted = cfg.model.conditioning, cfg.data.conditional
    if wanted is False and method != "none":
        raise UserError(f"model.conditioning={method} trains on labels but "
                        "data.conditional=false turns them off: set model.conditioning=none "
                        "for an unconditional run, or drop data.conditional")
    if wanted is None:
        wanted = method != "none"
    if not wanted:
        return None
    if method == "none" and not is_builder(cfg.model.name):
        raise UserError("data.conditional=true needs conditional networks: set "
                        "model.conditioning=concat, acgan or projection (docs/conditional.md)")
    num_classes = require_conditional(dataset)
    classes = list(dataset.classes)
    if cfg.data.classes is not None and list(cfg.data.classes) != classes:
        raise UserError(f"the config names the classes {cfg.data.classes} but the data has "
                        f"{classes}: the labels would mean other classes. Use the data the run "
                        "was trained on, or start a new run (drop data.classes)")
    cfg.data.classes = classes
    return num_classes


def _networks(cfg: Config, sample_shape: tuple[int, ...], num_classes: int | None = None):
    """(G, D): ganforge's mlp/dcgan/resnet, or what the user's builder returns."""
    if is_builder(cfg.model.name):
        return build_user_nets(cfg.model.name, sample_shape, cfg.model.z_dim,
                               cfg.model.options, num_classes)
    conditional = ({"num_classes": num_classes, "conditioning": cfg.model.conditioning}
                   if num_classes is not None else {})
    return build_nets(cfg.model.name, sample_shape, cfg.model.z_dim, cfg.model.width,
                      d_batchnorm=_d_batchnorm(cfg), d_dropout=cfg.model.d_dropout,
                      d_minibatch_stddev=cfg.model.d_minibatch_stddev,
                      d_minibatch_disc=cfg.model.d_minibatch_disc,
                      g_batchnorm=cfg.model.g_batchnorm, init=cfg.model.init, **conditional)


def _sync_batchnorm(G, D, device: str):
    """BatchNorm statistics over the whole global batch (several CUDA processes)."""
    if not str(device).startswith("cuda") or current_world().size < 2:
        raise UserError("sync_bn=true needs several processes on CUDA GPUs (torchrun with "
                        "NCCL): PyTorch's SyncBatchNorm has no CPU implementation, and one "
                        "process has nothing to synchronize. Without it, BatchNorm normalizes "
                        "over each process's rows of the batch")
    convert = torch.nn.SyncBatchNorm.convert_sync_batchnorm
    return convert(G), convert(D)


def fixed_z(cfg: Config, z_shape: tuple[int, ...], n: int | None = None) -> torch.Tensor:
    """The latents of the sample grids: a function of the seed only (``streams.py``)."""
    return grid_z(cfg.seed, z_shape, n or cfg.n_samples)


def attach_run_dir(run: Run, run_dir: Path) -> None:
    """Write config.yaml and attach the callbacks that write the run directory
    (``run_directory.run_dir_callbacks``, the same ones a Python ``RunDir`` attaches)."""
    cfg, trainer = run.cfg, run.trainer

    def write_config():
        make_dirs(run_dir)
        write_atomic(run_dir / "config.yaml", dump_yaml(cfg))

    on_main(trainer.world, write_config)   # rank 0 writes; a failure stops every process
    make_eval = None
    if cfg.eval.every > 0:
        from .metrics.callback import EvalCallback

        names, net = run.evaluation
        make_eval = lambda tb: EvalCallback(  # noqa: E731
            run_dir / "metrics.jsonl", cfg.eval.every, run.batches.samples, cfg.data.name, names,
            net, cfg.eval.n, cfg.seed, tb, real_labels=run.dataset.labels)
    trainer.callbacks = run_dir_callbacks(
        trainer, run_dir, samples=run.batches.samples, kind=run.dataset.kind, seed=cfg.seed,
        log_every=cfg.log_every, sample_every=cfg.sample_every,
        checkpoint_every=cfg.checkpoint_every, keep=cfg.keep_checkpoints,
        n_samples=cfg.n_samples, tensorboard=cfg.tensorboard,
        extra=lambda: {"config": to_dict(cfg), "version": __version__,
                       "signature": signature(trainer.G, trainer.D)},
        make_eval=make_eval)
    run.run_dir = run_dir


def restore(run: Run, state: dict, checkpoint: Path) -> None:
    """Load a checkpoint's ``state`` (``rundir.resume`` / ``latest_for_reading`` found it at
    ``checkpoint``) into ``run``, after checking it is from the same networks."""
    diffs = signature_differences(state.get("signature", {}),
                                  signature(run.trainer.G, run.trainer.D))
    if diffs:
        raise UserError(f"the checkpoint {checkpoint} is from a different model: "
                        + "; ".join(diffs))
    run.trainer.load_state_dict(state)
