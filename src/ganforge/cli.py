"""The ``ganforge`` command line: train, plan, presets, sample, eval, doctor, prepare, export,
train-classifier.

User mistakes (:class:`UserError`) print one line, ``ganforge: error: ...``, and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import UserError

USAGE_EXAMPLES = """examples:
  ganforge train                                  DCGAN on Fashion-MNIST, a few minutes on a CPU
  ganforge train data=ring8 model=mlp steps=2000  the 8-Gaussian ring
  ganforge train --config my.yaml lr_D=1e-4       a YAML config plus overrides
  ganforge train --resume runs/fashion-mnist-dcgan-nonsaturating steps=6000
  ganforge plan loss=hinge d_steps=5              which optimizer and lr update which network
  ganforge train preset=wgan-gp                   a recipe from the papers (ganforge presets)
  ganforge train schedule=onestep                 one-step (simultaneous) updates
  ganforge sample runs/fashion-mnist-dcgan-nonsaturating -n 64 -o grid.png
  ganforge eval runs/fashion-mnist-dcgan-nonsaturating --metrics fid,kid,pr,dc -n 10000
  ganforge train-classifier                       the default feature network for eval
  ganforge doctor runs/fashion-mnist-dcgan-nonsaturating   findings and what to try
  ganforge export RUN_DIR --keras g.keras         a Keras-built generator back to Keras
  ganforge prepare ~/faces data/faces64 --resolution 64   decode a folder once; then
  ganforge train data=data/faces64 data.xflip=true        train on it, with mirrored images
"""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ganforge", description="Train GANs correctly.",
                                 epilog=USAGE_EXAMPLES,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="train a GAN (default: DCGAN on Fashion-MNIST)")
    tr.add_argument("--config", help="YAML config file")
    tr.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    tr.add_argument("--dry-run", action="store_true",
                    help="build and check everything, print the config and plan, do not train")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_trust(tr)
    tr.add_argument("overrides", nargs="*", metavar="key=value")

    pl = sub.add_parser("plan", help="print the training plan of a config")
    pl.add_argument("--config", help="YAML config file")
    pl.add_argument("overrides", nargs="*", metavar="key=value")

    tr.add_argument("--nproc", type=int, default=1, metavar="N",
                    help="train with N processes on this machine (the same as `torchrun "
                         "--standalone --nproc_per_node=N -m ganforge train ...`)")

    sub.add_parser("presets", help="list the presets (preset=NAME) and what each sets")

    sa = sub.add_parser("sample", help="write a grid of samples from a run's last checkpoint")
    sa.add_argument("run_dir")
    sa.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    sa.add_argument("-o", "--out", default="samples.png", help="output PNG (default samples.png)")
    sa.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    sa.add_argument("--class", dest="class_", metavar="C",
                    help="a class-conditional run: samples of class C only (its index, or "
                         "its name); default: a class grid, one row per class")
    _add_trust(sa)
    _add_eval_parsers(sub)
    do = sub.add_parser("doctor", help="what went wrong (or right) in a run, and what to try")
    do.add_argument("run_dir")
    ex = sub.add_parser("export", help="write a run's generator in another framework's format "
                                       "(--keras g.keras: a Keras 3 generator)")
    ex.add_argument("run_dir")
    ex.add_argument("--keras", required=True, metavar="FILE.keras",
                    help="write the generator as a .keras file (its networks came from Keras)")
    ex.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                    help="export G_ema (default: when the run has one)")
    _add_trust(ex)
    from .data.prepare import add_arguments   # no numpy, Pillow or torch at parse time
    add_arguments(sub.add_parser(
        "prepare", help="decode an image folder or .zip once into a file data=DST reads "
                        "without decoding (resize and center-crop with --resolution N)"))
    return ap


def _add_eval_parsers(sub) -> None:
    ev = sub.add_parser("eval", help="metrics of a run's last checkpoint, written to eval.json")
    ev.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                    help="one or more run directories (several: one column each)")
    ev.add_argument("--metrics", default="auto",
                    help="comma-separated fid,kid,pr,dc,is,classes,modes (default auto)")
    ev.add_argument("-n", "--n", type=int, default=10000, help="samples (default 10000)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    ev.add_argument("--feature-net", default="default",
                    help="default (ganforge's classifier; the samples themselves for points), "
                         "identity, or a TorchScript file")
    ev.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                    help="use G_ema (default: when the run has one)")
    ev.add_argument("--reference", default="train", help="real data: train (default) or test")
    ev.add_argument("--replace", action="store_true",
                    help="start eval.json afresh instead of adding to it")
    ev.add_argument("--out", default=None, metavar="FILE",
                    help="write the results here instead of RUN_DIR/eval.json")
    _add_trust(ev)
    tc = sub.add_parser("train-classifier",
                        help="train the default feature network on Fashion-MNIST")
    tc.add_argument("--root", default=None,
                    help="directory with Fashion-MNIST's IDX files (default: the Debian "
                         "package location)")
    tc.add_argument("--out", default=None,
                    help="where to write the weights (default: the package's "
                         "metrics/weights/fmnist_classifier.pt)")
    tc.add_argument("--epochs", type=int, default=10)
    tc.add_argument("--batch-size", type=int, default=128)
    tc.add_argument("--lr", type=float, default=3e-3)
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    tc.add_argument("--limit", type=int, default=None,
                    help="use only the first N training images (for a quick try)")


def _add_trust(parser) -> None:
    parser.add_argument("--trust-model-code", action="store_true",
                        help="import the networks' builder a run's config names "
                             "(model=file.py:function); a run directory is data, so without "
                             "this flag ganforge does not run code it names")


def _trusted(args, command: str) -> bool | str:
    """True when the user allowed the run's builder to be imported: a new run (its builder
    named by the user), --trust-model-code, or the builder named again with model=...;
    otherwise the command's name, for the error (``builder.untrusted_message``)."""
    if getattr(args, "trust_model_code", False) or not getattr(args, "resume", True):
        return True
    named = any(o.split("=", 1)[0].strip() in ("model", "model.name") and ":" in o
                for o in getattr(args, "overrides", []))
    return True if named else command


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run_dir_setup(args, dry_run: bool):
    """The config and the run directory's state (what ``--resume`` found): checked here,
    before torch is imported, on the one process that touches files."""
    from . import rundir
    from .config import build_config, load_config

    if args.resume:
        run_dir = Path(args.resume)
        resumed = rundir.resume(run_dir, args.config, args.overrides)
        return resumed.cfg, run_dir, resumed.checkpoint, resumed.notes, resumed.state
    cfg = (load_config(args.config, args.overrides) if args.config
           else build_config(None, args.overrides))
    run_dir = Path(cfg.run_dir) if cfg.run_dir else rundir.default_run_dir(cfg)
    notes = rundir.start_new(run_dir, dry_run=dry_run)
    cfg.run_dir = str(run_dir)
    return cfg, run_dir, None, notes, None


def cmd_train(args) -> int:
    from .config import build_config, dump_yaml, to_dict

    world, device = _join_process_group()
    say = _say if world.is_main else (lambda msg: None)
    from .distributed import on_main

    # Rank 0 (the only process, usually) checks the config and the run directory, and cleans
    # it; every other process then reads the same checkpoint and touches nothing else.
    kept: dict = {}

    def setup():
        cfg, run_dir, checkpoint, notes, state = _run_dir_setup(args, args.dry_run)
        kept["state"] = state
        return to_dict(cfg), run_dir, checkpoint, notes

    cfg_dict, run_dir, checkpoint, notes = on_main(world, setup)
    cfg = build_config(cfg_dict)
    for note in notes:
        say(f"note: {note}")
    from .run import attach_run_dir, build_run, restore

    run = build_run(cfg, device=device, trust_model_code=_trusted(args, "train --resume"))
    for note in run.notes:
        say(f"data: {note}")
    if args.dry_run:
        if world.is_main:
            print(dump_yaml(cfg))
            print(run.trainer.plan().format())
        return 0
    if checkpoint is not None:
        from .checkpoint import load_checkpoint
        restore(run, kept.get("state") or load_checkpoint(checkpoint), checkpoint)
        say(f"resumed from {checkpoint} at step {run.trainer.step_count}")
    remaining = cfg.steps - run.trainer.step_count
    if remaining <= 0:   # nothing to do, and nothing is written
        say(f"the run is already at step {run.trainer.step_count} of {cfg.steps}: "
            "raise steps= to train longer")
        return 0
    attach_run_dir(run, run_dir)
    say(run.trainer.plan().format())
    say(f"run directory: {run_dir}" + (f" ({world.size} processes)" if world.distributed
                                       else ""))
    try:
        run.trainer.fit(run.batches, remaining,
                        progress=False if args.no_progress else cfg.log_every)
    except KeyboardInterrupt:
        say(f"\ninterrupted at step {run.trainer.step_count}; continue with "
            f"`ganforge train --resume {run_dir}` (from the last checkpoint)")
        return 130
    except UserError as err:
        raise UserError(f"{err} (run directory: {run_dir})") from None
    say(f"done: {run.trainer.step_count} steps; samples in {run_dir / 'samples'}, "
        f"checkpoints in {run_dir / 'checkpoints'}")
    return 0


def _join_process_group():
    """(world, device): under torchrun, join the process group and pick this process's
    device; otherwise a single process and the config's device."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        from .distributed import World
        return World(), None
    from .distributed import init_process_group
    return init_process_group("auto")


def cmd_plan(args) -> int:
    from .config import build_config, load_config

    cfg = (load_config(args.config, args.overrides) if args.config
           else build_config(None, args.overrides))
    from .run import build_run

    run = build_run(cfg)
    print(run.trainer.plan().format())
    return 0


def cmd_presets(args) -> int:
    from .presets import describe_presets
    print(describe_presets(), end="")
    return 0


def cmd_sample(args) -> int:
    from .rundir import latest_for_reading

    if args.n < 1:
        raise UserError(f"-n must be at least 1, got {args.n}")
    run_dir = Path(args.run_dir)
    found = latest_for_reading(run_dir)
    for note in found.notes:
        _say(f"note: {note}")
    from .images import check_image_path, sample_image, save_image
    from .run import build_run, fixed_z, restore
    from .sampling import generate

    check_image_path(args.out)   # before the work: a bad name costs nothing
    cfg = found.cfg
    cfg.seed = args.seed
    run = build_run(cfg, trust_model_code=_trusted(args, "sample"))
    restore(run, found.state, found.checkpoint)
    z = fixed_z(cfg, run.trainer.players.z_shape, args.n).to(run.trainer.device)
    z, labels, nrow, what = _sample_labels(run, z, args.class_)
    samples = generate(run.trainer.G_sample, z, labels=labels, mode=run.trainer.sample_mode)
    reference = run.batches.x[:2500] if run.dataset.kind == "points" else None
    image = sample_image(samples.cpu(), reference, nrow)
    if image is None:
        raise UserError(f"samples of shape {tuple(samples.shape[1:])} cannot be drawn as an "
                        "image (only images and 2-D points)")
    save_image(image, args.out)
    _say(f"wrote {samples.shape[0]} samples{what} from {found.checkpoint} to {args.out}")
    return 0


def _sample_labels(run, z, wanted: str | None):
    """(z, labels, images per row, what) for ``ganforge sample``: all of class ``wanted`` (an
    index or a class name), a class grid for a conditional run, or no labels."""
    import torch

    from .sampling import class_grid

    cond = run.trainer.players.cond
    if cond is None:
        if wanted is not None:
            raise UserError("--class needs a class-conditional run; this run was trained "
                            "without labels (model.conditioning=none)")
        return z, None, None, ""
    classes = run.cfg.data.classes or [str(i) for i in range(cond.num_classes)]
    if wanted is None:
        z, labels, per = class_grid(z, cond.num_classes)
        return z, labels, per, f" (a class grid: {cond.num_classes} rows of {per})"
    if wanted in classes:
        index = classes.index(wanted)
    elif wanted.lstrip("-").isdigit() and 0 <= int(wanted) < cond.num_classes:
        index = int(wanted)
    else:
        raise UserError(f"--class {wanted}: not a class of this run; give an index "
                        f"0..{cond.num_classes - 1} or a name: {', '.join(classes)}")
    labels = torch.full((z.shape[0],), index, dtype=torch.long, device=z.device)
    return z, labels, None, f" of class {index} ({classes[index]})"


def cmd_eval(args) -> int:
    from .evaluate import evaluate, format_table, write_eval_json

    if args.out and len(args.run_dirs) > 1:
        raise UserError("--out names one file: evaluate one run directory with it")
    world, device = _join_process_group()   # under torchrun: the samples split over processes
    say = _say if world.is_main else (lambda msg: None)
    evaluations = [evaluate(d, args.metrics, args.n, args.seed, args.feature_net, args.ema,
                            args.reference, log=say, world=world, device=device,
                            trust_model_code=_trusted(args, "eval"))
                   for d in args.run_dirs]
    if not world.is_main:
        return 0
    table = format_table(evaluations)  # refuses incomparable columns before anything is written
    print(table, flush=True)   # first: the numbers took minutes, a failed write must not lose them
    for ev in evaluations:   # a conditional run's per-class findings (doctor/classes.py)
        for finding in ev.findings:
            print(finding.render(), flush=True)
    for ev in evaluations:
        try:
            _say(f"wrote {write_eval_json(ev, replace=args.replace, path=args.out)}")
        except UserError as err:
            raise UserError(f"{err}. The results are printed above; pass --out FILE to write "
                            "them elsewhere") from None
    return 0


def cmd_train_classifier(args) -> int:
    from .metrics.train_classifier import main as train_classifier

    return train_classifier(args, log=_say)


def cmd_doctor(args) -> int:
    from .doctor.report import render_report

    print(render_report(args.run_dir))
    return 0


def cmd_export(args) -> int:
    from .rundir import latest_for_reading

    found = latest_for_reading(Path(args.run_dir))
    for note in found.notes:
        _say(f"note: {note}")
    if not str(args.keras).endswith(".keras"):
        raise UserError(f"--keras {args.keras}: a Keras model file must end in .keras")
    from .images import pick_generator
    from .run import build_run, restore

    run = build_run(found.cfg, trust_model_code=_trusted(args, "export"))
    restore(run, found.state, found.checkpoint)
    G, which = pick_generator(run.trainer, args.ema)
    from .keras import KerasModule, export_generator

    if not isinstance(G, KerasModule):
        raise UserError(f"{args.run_dir}'s generator is a torch module, not a Keras model: "
                        "--keras exports generators built with Keras (model=file.py:build "
                        "returning Keras models); a torch G is in the checkpoint as it is")
    export_generator(G, args.keras)
    _say(f"wrote {which} of {found.checkpoint} to {args.keras}; load it with "
         "keras.saving.load_model (its images are channels-last)")
    return 0


def cmd_prepare(args) -> int:
    from .data.prepare import prepare_from_args
    prepare_from_args(args, log=_say)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling key=value positionals at the first option, so
    # `ganforge train steps=10 --no-progress seed=1` leaves seed=1 over: take it back.
    overrides = [a for a in extra if "=" in a and not a.startswith("-")]
    if overrides and hasattr(args, "overrides"):
        args.overrides += overrides
        extra = [a for a in extra if a not in overrides]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "nproc", 1) != 1:
        return _relaunch(args, argv if argv is not None else sys.argv[1:])
    together = False
    try:
        code = {"train": cmd_train, "plan": cmd_plan, "sample": cmd_sample, "eval": cmd_eval,
                "train-classifier": cmd_train_classifier, "doctor": cmd_doctor,
                "presets": cmd_presets, "prepare": cmd_prepare,
                "export": cmd_export}[args.command](args)
        together = True
        return code
    except UserError as err:
        if not _quiet(err):
            _say(f"ganforge: error: {err}")
        return 2
    finally:
        if "torch" in sys.modules:   # leave the process group, if one was joined
            from .distributed import shutdown
            shutdown(together)


def _quiet(err: UserError) -> bool:
    """Under torchrun only rank 0 reports: every process stops on the same error (a config
    mistake, a non-finite loss), or on one rank 0 passed on (distributed.on_main)."""
    import os
    return os.environ.get("RANK", "0") != "0"


def _relaunch(args, argv: list[str]) -> int:
    """``ganforge train --nproc N ...``: check the config here (fast, one clear error), then
    become ``torchrun --standalone --nproc_per_node=N -m ganforge train ...``."""
    import os

    if args.nproc < 1:
        raise SystemExit(f"ganforge: error: --nproc must be at least 1, got {args.nproc}")
    if "LOCAL_RANK" in os.environ:
        _say("ganforge: error: --nproc inside a torchrun job: drop --nproc (torchrun already "
             "started the processes)")
        return 2
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    if not args.resume:
        try:
            from .config import build_config, load_config
            cfg = (load_config(args.config, args.overrides) if args.config
                   else build_config(None, args.overrides))
            if cfg.batch_size % args.nproc:
                raise UserError(f"batch_size={cfg.batch_size} is the global batch and must "
                                f"divide evenly among the {args.nproc} processes: use a "
                                f"multiple of {args.nproc}")
        except UserError as err:
            _say(f"ganforge: error: {err}")
            return 2
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:   # the last thing this process does: torchrun keeps its signal handlers installed
        torchrun.main(["--standalone", f"--nproc_per_node={args.nproc}", "-m", "ganforge",
                       *rest])
    except ChildFailedError as err:   # the workers said why (rank 0 prints the error)
        return max((f.exitcode for f in err.failures.values() if f.exitcode > 0), default=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
