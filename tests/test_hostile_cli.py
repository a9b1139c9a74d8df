"""The command line as a hostile-but-realistic user meets it: every bad input gets one clean
message that names the problem and the fix, exit status 2, and no traceback; every state a run
directory can be left in has a way forward.

Each case is a row: the command (with ``{run}``: a copy of a trained tiny run, ``{tmp}``: an
empty directory, ``{ro}``: a read-only copy of the run), an optional set-up that damages the
run directory first, the exit status, and a phrase of the message. A case passes only if
``main`` returns (a traceback would propagate out of it and fail the test) and, for status 2,
prints exactly one ``ganforge: error:`` line. Generated rows check every numeric key's range.
"""

import math
import os
import shutil
import subprocess

import pytest
import torch
import yaml

from disks import tmpfs
from ganforge.checkpoint import list_checkpoints, load_checkpoint
from ganforge.cli import main
from ganforge.config import Config, iter_keys

TINY = ["data=ring8", "model=mlp", "model.width=8", "model.z_dim=2", "batch_size=32",
        "log_every=2", "sample_every=0", "checkpoint_every=2", "tensorboard=false"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--no-progress", *TINY, "steps=6", f"run_dir={run}"]) == 0
    return run


def cli(args, capsys):
    try:
        code = main(args)
    except SystemExit as exit_:   # argparse: usage errors
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out + out.err


# --- set-ups that leave a run directory in one of the states a crash or a user can leave ----
def truncate_newest(run):
    newest = list_checkpoints(run / "checkpoints")[-1]
    newest.write_bytes(newest.read_bytes()[:1000])


def only_a_partial_first_checkpoint(run):
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").mkdir()
    (run / "checkpoints/.step_0000002.pt.tmp-424242").write_bytes(b"PK\x03\x04 torn")


def every_checkpoint_unreadable(run):
    for path in list_checkpoints(run / "checkpoints"):
        path.write_bytes(b"not a checkpoint")


def malicious_newest(run):
    newest = list_checkpoints(run / "checkpoints")[-1]
    torch.save({"G": {}, "payload": Exploit()}, newest)


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ganforge-hostile-marker",))


def edit_config(key, value):
    def setup(run):
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        section, _, leaf = key.rpartition(".")
        (cfg[section] if section else cfg)[leaf] = value
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return setup


def drop_config(run):
    (run / "config.yaml").unlink()


def torn_metrics_line(run):
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "loss/D": 1.3')


def run_dir_is_a_file(run):
    shutil.rmtree(run)
    run.write_text("a file")


def _png(tmp):
    from PIL import Image
    Image.new("RGB", (6, 5), (10, 20, 30)).save(tmp / "a.png")


def _bad_png(tmp):
    _png(tmp)
    (tmp / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n torn")


def _points_npy(tmp):
    import numpy as np
    np.save(tmp / "p.npy", np.random.default_rng(0).normal(size=(64, 2)).astype("float32"))


CASES = [
    # (name, args, setup, status, phrase)
    # -- arguments ---------------------------------------------------------------------------
    ("no command", [], None, 2, "the following arguments are required"),
    ("unknown command", ["tran"], None, 2, "invalid choice: 'tran'"),
    ("unknown option", ["train", "--frobnicate"], None, 2, "unrecognized arguments"),
    ("sample without run", ["sample"], None, 2, "the following arguments are required"),
    ("sample -n text", ["sample", "{run}", "-n", "ten"], None, 2, "invalid int value"),
    ("sample -n 0", ["sample", "{run}", "-n", "0"], None, 2, "-n must be at least 1"),
    ("eval --n 1", ["eval", "{run}", "--n", "1"], None, 2, "--n must be at least 2"),
    ("bare word", ["train", "steps"], None, 2, "overrides are key=value"),
    ("empty key", ["train", "=3"], None, 2, "overrides are key=value"),
    # -- keys and values ---------------------------------------------------------------------
    ("typo in key", ["train", "stepz=3"], None, 2, "unknown config key 'stepz' (did you mean "
                                                   "'steps'?)"),
    ("typo in nested key", ["train", "optim_G.betaz=1"], None, 2, "did you mean "
                                                                  "'optim_G.betas'?"),
    ("unknown section", ["train", "regg.gp=1"], None, 2, "unknown config key 'regg.gp'"),
    ("section as value", ["train", "reg=1"], None, 2, "reg is a section"),
    ("sub-key of a leaf", ["train", "steps.x=1"], None, 2, "steps.x: steps has no sub-keys"),
    ("loss typo", ["train", "loss=hinj"], None, 2, "did you mean 'hinge'?"),
    ("schedule typo", ["train", "schedule=onestpe"], None, 2, "did you mean 'onestep'?"),
    ("optimizer typo", ["train", "optim_D.name=adamm"], None, 2, "did you mean 'adam'"),
    ("lr schedule typo", ["train", "lr_schedule_G.name=cosin"], None, 2, "did you mean "
                                                                         "'cosine'?"),
    ("model typo", ["train", "model=dcgann"], None, 2, "did you mean 'dcgan'?"),
    ("precision", ["train", "precision=fp16x"], None, 2, "precision='fp16x' is not valid"),
    ("balance", ["train", "balance=sometimes"], None, 2, "balance='sometimes' is not valid"),
    ("preset typo", ["train", "preset=wgan_gp"], None, 2, "did you mean 'wgan-gp'?"),
    ("scale typo", ["train", "data.scale=automatic"], None, 2, "did you mean 'auto'?"),
    ("betas out of range", ["train", "optim_G.betas=[2,3]"], None, 2, "each value of "
                                                                       "optim_G.betas"),
    ("betas one number", ["train", "optim_G.betas=0.5"], None, 2, "2 numbers"),
    ("betas text", ["train", "optim_G.betas=[a,b]"], None, 2, "optim_G.betas must be a number, "
                                                               "got 'a'"),
    ("negative eps", ["train", "optim_D.eps=-1"], None, 2, "optim_D.eps must be in (0, 1]"),
    ("huge seed", ["train", "seed=99999999999999999999999"], None, 2, "seed must be in"),
    ("negative seed", ["train", "seed=-1"], None, 2, "seed must be in"),
    ("infinite lr", ["train", "lr_G=inf"], None, 2, "lr_G must be a finite number"),
    ("nan lr", ["train", "lr_D=nan"], None, 2, "lr_D must be a finite number"),
    ("zero lr", ["train", "lr_D=0"], None, 2, "lr_D=0.0 is out of range"),
    ("negative gamma", ["train", "lr_schedule_G.name=step", "lr_schedule_G.gamma=-1"], None, 2,
     "the factor that decays the learning rate"),
    ("gamma above 1", ["train", "lr_schedule_G.name=exponential", "lr_schedule_G.gamma=2"],
     None, 2, "lr_schedule_G.gamma=2.0 is out of range"),
    ("fractional steps", ["train", "steps=1.5"], None, 2, "steps must be a whole number"),
    ("overflowing steps", ["train", "steps=1e400"], None, 2, "steps must be a whole number"),
    ("bool as text", ["train", "tensorboard=maybe"], None, 2, "must be true or false"),
    ("smoothing of 1", ["train", "label_smoothing=1"], None, 2, "label_smoothing must be in "
                                                                "[0, 1)"),
    ("dropout of 1", ["train", "model.d_dropout=1"], None, 2, "model.d_dropout must be in"),
    ("augment p", ["train", "augment.p=1.5"], None, 2, "augment.p must be in [0, 1]"),
    ("augment policy", ["train", "augment.policy=color,flip"], None, 2, "unknown augmentation "
                                                                        "'flip'"),
    ("eval metric typo", ["train", "eval.metrics=fid,fdi"], None, 2, "unknown metric 'fdi'"),
    ("eval metric empty", ["train", "eval.metrics=,"], None, 2, "the metric list is empty"),
    ("eval n", ["train", "eval.n=5"], None, 2, "eval.n must be in [10"),
    ("modes on images", ["train", "eval.every=10", "eval.metrics=modes"], None, 2,
     "the modes metric is for the 2-D mixtures"),
    ("device name", ["train", "device=gpu"], None, 2, "device='gpu' is not a device"),
    ("device cuda", ["train", *TINY, "device=cuda", "--dry-run"], None, 2,
     "this PyTorch sees no CUDA GPU"),
    ("device cuda:3", ["train", *TINY, "device=cuda:3", "--dry-run"], None, 2,
     "this PyTorch sees no CUDA GPU"),
    ("width too big", ["train", "model.width=100000"], None, 2, "model.width must be in"),
    ("data null", ["train", "data.name=null", "--dry-run"], None, 2, "unknown dataset 'null'"),
    ("data null in YAML", ["train", "--config", "{tmp}/c.yaml"],
     lambda tmp: (tmp / "c.yaml").write_text("data: {name: null}\n"), 2,
     "data.name must be a string, got None"),
    # -- combinations ------------------------------------------------------------------------
    ("onestep with d_steps", ["train", "schedule=onestep", "d_steps=5"], None, 2,
     "d_steps=5 applies to schedule=alternating only"),
    ("onestep_impl under alternating", ["train", "onestep_impl=stopgrad"], None, 2,
     "onestep_impl=stopgrad applies to schedule=onestep only"),
    ("reuse_fake under onestep", ["train", "schedule=onestep", "reuse_fake=true"], None, 2,
     "reuse_fake=True applies to schedule=alternating only"),
    ("preset then onestep", ["train", "preset=wgan-gp", "schedule=onestep"], None, 2,
     "d_steps=5 applies to schedule=alternating only"),
    ("stopgrad with feature matching", ["train", "schedule=onestep", "onestep_impl=stopgrad",
                                        "feature_matching=1"], None, 2,
     "feature_matching with schedule=onestep needs onestep_impl=fused"),
    ("smoothing with hinge", ["train", "loss=hinge", "label_smoothing=0.1"], None, 2,
     "label_smoothing is defined for the cross-entropy"),
    ("betas with sgd", ["train", "optim_G.name=sgd", "optim_G.betas=[0.9,0.99]"], None, 2,
     "is not used by optim_G.name=sgd"),
    ("momentum with adam", ["train", "optim_D.momentum=0.9"], None, 2,
     "optim_D.momentum=0.9 is not used by optim_D.name=adam"),
    ("gamma with constant", ["train", "lr_schedule_D.gamma=0.1"], None, 2,
     "is not used by lr_schedule_D.name=constant"),
    ("rampup without EMA", ["train", "ema.rampup=0.05"], None, 2,
     "ema.rampup has no effect without ema.half_life_images"),
    ("anneal without noise", ["train", "noise.anneal_steps=100"], None, 2,
     "noise.anneal_steps has no effect without noise.sigma"),
    ("one-sided without gp", ["train", "reg.gp_one_sided=true"], None, 2,
     "reg.gp_one_sided has no effect without reg.gp"),
    ("root with ring8", ["train", "data=ring8", "data.root=/tmp"], None, 2,
     "data.root is only used by fashion-mnist"),
    ("ratio with onestep", ["train", "schedule=onestep", "balance=ratio"], None, 2,
     "balance=ratio changes d_steps/g_steps"),
    ("smoothing balance with hinge", ["train", "loss=hinge", "balance=smoothing"], None, 2,
     "balance=smoothing needs a cross-entropy or least-squares loss"),
    ("batchnorm with mlp", ["train", "model=mlp", "model.d_batchnorm=true"], None, 2,
     "model.d_batchnorm=true needs model=dcgan"),
    ("ada on points", ["train", *TINY, "balance=ada", "--dry-run"], None, 2,
     "balance=ada adapts image augmentation"),
    # -- config files ------------------------------------------------------------------------
    ("missing config file", ["train", "--config", "{tmp}/none.yaml"], None, 2,
     "none.yaml does not exist"),
    ("config is a directory", ["train", "--config", "{tmp}"], None, 2, "does not exist"),
    ("config not YAML", ["train", "--config", "{tmp}/bad.yaml"],
     lambda tmp: (tmp / "bad.yaml").write_text("a: [1, 2\n"), 2, "is not valid YAML"),
    ("config a list", ["train", "--config", "{tmp}/list.yaml"],
     lambda tmp: (tmp / "list.yaml").write_text("- 1\n"), 2, "must be a mapping"),
    ("config with unknown key", ["train", "--config", "{tmp}/c.yaml"],
     lambda tmp: (tmp / "c.yaml").write_text("stepz: 3\n"), 2, "unknown config key 'stepz'"),
    ("config with a bad value", ["train", "--config", "{tmp}/c.yaml"],
     lambda tmp: (tmp / "c.yaml").write_text("lr_G: -1\n"), 2, "lr_G=-1.0 is out of range"),
    ("config with a mapping value", ["train", "--config", "{tmp}/c.yaml"],
     lambda tmp: (tmp / "c.yaml").write_text("steps: {a: 1}\n"), 2, "steps must be a whole"),
    # -- data --------------------------------------------------------------------------------
    ("missing data file", ["train", "data={tmp}/x.npy", "--dry-run"], None, 2, "x.npy"),
    ("data a text file", ["train", "data={tmp}/x.txt", "--dry-run"],
     lambda tmp: (tmp / "x.txt").write_text("hi"), 2, "a file must be .npy or .npz"),
    ("unknown data name", ["train", "data=mnist", "--dry-run"], None, 2, "unknown dataset "
                                                                         "'mnist'"),
    ("empty image folder", ["train", "data={tmp}", "--dry-run"], None, 2, "no images"),
    ("npy of the wrong rank", ["train", "data={tmp}/x.npy", "model=mlp", "--dry-run"],
     lambda tmp: __import__("numpy").save(tmp / "x.npy", __import__("numpy").zeros(5)), 2,
     "x.npy"),
    ("batch larger than data", ["train", *TINY, "data.limit=10", "--dry-run"], None, 2,
     "batch_size=32 is larger than the dataset"),
    ("fashion-mnist root empty", ["train", "data.root={tmp}", "--dry-run"], None, 2,
     "no Fashion-MNIST train files"),
    ("dcgan on points", ["train", "data=ring8", "model=dcgan", "--dry-run"], None, 2,
     "model=dcgan needs image data"),
    # -- run directories ---------------------------------------------------------------------
    ("run_dir is a file", ["train", *TINY, "steps=2", "run_dir={tmp}/f"],
     lambda tmp: (tmp / "f").write_text("x"), 2, "is a file, not a directory"),
    ("run_dir holds a run", ["train", *TINY, "steps=2", "run_dir={run}"], None, 2,
     "already holds a run (3 checkpoints, the newest step_0000006.pt)"),
    ("resume nothing", ["train", "--resume", "{tmp}/none"], None, 2, "none does not exist"),
    ("resume a file", ["train", "--resume", "{tmp}/f"],
     lambda tmp: (tmp / "f").write_text("x"), 2, "is not a directory"),
    ("resume an empty dir", ["train", "--resume", "{tmp}"], None, 2,
     "is not a ganforge run directory"),
    ("resume another model", ["train", "--resume", "{run}", "model.width=32"], None, 2,
     "model.width: 8 in the run, 32 now"),
    ("resume a non-resumable override", ["train", "--resume", "{run}", "lr_D=1e-3"], None, 2,
     "cannot resume with a different setup: lr_D"),
    ("resume with edited lr", ["train", "--resume", "{run}", "steps=8"],
     ("run", edit_config("lr_D", 0.001)), 2,
     "lr_D: 0.0008 in the checkpoint, 0.001 in config.yaml"),
    ("resume with a bad edit", ["train", "--resume", "{run}"],
     ("run", edit_config("lr_D", -1)), 2, "config.yaml: lr_D=-1.0 is out of range"),
    ("resume read-only", ["train", "--resume", "{ro}", "steps=8"], None, 2,
     "read-only"),
    ("train into read-only", ["train", *TINY, "steps=2", "run_dir={ro}/new"], None, 2,
     "read-only"),
    # -- sample, eval, doctor ----------------------------------------------------------------
    ("sample nothing", ["sample", "{tmp}/none"], None, 2, "is not a ganforge run directory"),
    ("sample onto a directory", ["sample", "{run}", "-o", "{tmp}"], None, 2,
     "is a directory"),
    ("sample unknown format", ["sample", "{run}", "-o", "{tmp}/grid.xyz"], None, 2,
     "'.xyz'"),
    ("sample no checkpoint", ["sample", "{run}"], ("run", every_checkpoint_unreadable), 2,
     "no readable checkpoint"),
    ("eval nothing", ["eval", "{tmp}/none"], None, 2, "is not a ganforge run directory"),
    ("eval bad metric", ["eval", "{run}", "--metrics", "fdi"], None, 2, "unknown metric"),
    ("eval fid on points", ["eval", "{run}", "--metrics", "modes", "--reference", "test"],
     None, 2, "--reference test exists only for fashion-mnist"),
    ("eval missing feature net", ["eval", "{run}", "--metrics", "fid", "--feature-net",
                                  "{tmp}/net.pt"], None, 2, "net.pt"),
    ("eval --ema without EMA", ["eval", "{run}", "--ema"], None, 2, "this run has no G_ema"),
    ("eval --out with two runs", ["eval", "{run}", "{run}", "--out", "{tmp}/e.json"], None, 2,
     "--out names one file"),
    ("eval read-only run", ["eval", "{ro}", "--n", "100"], None, 2,
     "The results are printed above; pass --out FILE"),
    ("doctor nothing", ["doctor", "{tmp}/none"], None, 2, "is not a ganforge run directory"),
    ("doctor a file", ["doctor", "{tmp}/f"], lambda tmp: (tmp / "f").write_text("x"), 2,
     "is not a ganforge run directory"),
    # -- the ways forward (status 0) ---------------------------------------------------------
    ("resume after a kill in the first write", ["train", "--resume", "{run}", "--no-progress"],
     ("run", only_a_partial_first_checkpoint), 0, "has no readable checkpoint: starting it "
                                                  "from step 0"),
    ("train afresh after a kill in the first write", ["train", "--no-progress", *TINY,
                                                      "steps=2", "run_dir={run}"],
     ("run", only_a_partial_first_checkpoint), 0, "removed"),
    ("resume with every checkpoint unreadable", ["train", "--resume", "{run}",
                                                 "--no-progress"],
     ("run", every_checkpoint_unreadable), 0, "renamed to step_0000006.pt.unreadable"),
    ("resume past a truncated newest", ["train", "--resume", "{run}", "--no-progress",
                                        "steps=8"],
     ("run", truncate_newest), 0, "resumed from"),
    ("resume past a malicious newest", ["train", "--resume", "{run}", "--no-progress",
                                        "steps=8"],
     ("run", malicious_newest), 0, "could run code when loaded"),
    ("resume without config.yaml", ["train", "--resume", "{run}", "--no-progress", "steps=8"],
     ("run", drop_config), 0, "config.yaml was missing: restored from step_0000006.pt"),
    ("resume over a torn metrics line", ["train", "--resume", "{run}", "--no-progress",
                                         "steps=8"], ("run", torn_metrics_line), 0,
     "resumed from"),
    ("resume that does nothing", ["train", "--resume", "{run}", "steps=4"], None, 0,
     "already at step 6 of 4"),
    ("sample as jpeg", ["sample", "{run}", "-o", "{tmp}/new/grid.jpg"], None, 0, "grid.jpg"),
    ("eval read-only run to --out", ["eval", "{ro}", "--n", "100", "--out", "{tmp}/e.json"],
     None, 0, "e.json"),
    ("doctor on a run", ["doctor", "{run}"], None, 0, "ganforge doctor"),
    # -- prepare and data.xflip ----------------------------------------------------------
    ("prepare without dst", ["prepare", "{tmp}"], None, 2, "the following arguments are "
                                                            "required: dst"),
    ("prepare an empty folder", ["prepare", "{tmp}", "{tmp}/out"], None, 2, "no images in"),
    ("prepare a missing source", ["prepare", "{tmp}/nope", "{tmp}/out"], None, 2, "nope"),
    ("prepare resolution 0", ["prepare", "{tmp}", "{tmp}/out", "--resolution", "0"], None, 2,
     "--resolution must be a whole number of pixels"),
    ("prepare into itself", ["prepare", "{tmp}", "{tmp}"], ("tmp", _png), 2, "is SRC itself"),
    ("prepare a bad png", ["prepare", "{tmp}", "{tmp}/out"], ("tmp", _bad_png), 2,
     "cannot be read"),
    ("xflip on points", ["train", "data=ring8", "model=mlp", "data.xflip=true"], None, 2,
     "data.xflip mirrors images"),
    ("xflip on an array", ["train", "--dry-run", "data={tmp}/p.npy", "model=mlp",
                           "data.xflip=true"], ("tmp", _points_npy), 2,
     "data.xflip mirrors images"),
    # Class-conditional training (docs/conditional.md).
    ("projection on the mlp", ["train", "--dry-run", "data=ring8", "model=mlp",
                               "model.conditioning=projection"], None, 2,
     "is not available with model=mlp"),
    ("conditional without a method", ["train", "--dry-run", "data=ring8", "model=mlp",
                                      "data.conditional=true"], None, 2,
     "needs conditional networks"),
    ("conditioning with labels off", ["train", "--dry-run", "data=ring8", "model=mlp",
                                      "data.conditional=false", "model.conditioning=acgan"],
     None, 2, "data.conditional=false turns them off"),
    ("conditional data without labels", ["train", "--dry-run", "data={tmp}/p.npy", "model=mlp",
                                         "model.conditioning=concat"], ("tmp", _points_npy),
     2, "has none"),
    ("a limit that empties classes", ["train", "--dry-run", "data=grid25", "model=mlp",
                                      "model.conditioning=concat", "data.limit=10"], None, 2,
     "have no samples"),
    ("unknown fake labels", ["train", "--dry-run", "model.conditioning=concat",
                             "data.fake_labels=zipf"], None, 2, "choose one of: data, uniform"),
    ("other classes on resume", ["train", "--dry-run", "data=ring8", "model=mlp",
                                 "model.conditioning=concat", "data.classes=[a, b]"], None, 2,
     "the labels would mean other classes"),
    ("class of an unconditional run", ["sample", "{run}", "--class", "3"], None, 2,
     "--class needs a class-conditional run"),
]

# Every number key, one step outside each declared bound.
for _key, _value, _hint, _check in iter_keys(Config()):
    if _hint not in (int, float, int | None, float | None):
        continue
    step = 1 if _hint in (int, int | None) else 1e-3
    for _bound, _outside in ((_check.ge, -step), (_check.gt, 0.0), (_check.le, step),
                             (_check.lt, 0.0)):
        if _bound is not None and math.isfinite(_bound + _outside):
            _bad = _bound + _outside
            _text = str(int(_bad)) if _hint in (int, int | None) else repr(float(_bad))
            CASES.append((f"range {_key}={_text}", ["train", f"{_key}={_text}"], None, 2,
                          f"{_key} must be in"))


@pytest.fixture
def read_only_run(trained, tmp_path):
    """A copy of the trained run on a read-only tmpfs (root ignores chmod)."""
    mount = tmp_path / "ro"
    with tmpfs(mount, "size=64m"):
        shutil.copytree(trained, mount / "run")
        (mount / "new").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount


@pytest.mark.parametrize("name, args, setup, status, phrase", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(name, args, setup, status, phrase, trained, tmp_path, capsys, request):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    ro = None
    if any("{ro}" in a for a in args):
        ro = request.getfixturevalue("read_only_run")
        ro = ro / "run" if name != "train into read-only" else ro
    if setup is not None:
        where, fn = setup if isinstance(setup, tuple) else ("tmp", setup)
        fn(run if where == "run" else tmp)
    args = [a.format(run=run, tmp=tmp, ro=ro) for a in args]
    code, output = cli(args, capsys)
    assert code == status, output
    assert phrase in output, output
    assert "Traceback" not in output
    if status == 2 and args and args[0] in ("train", "plan", "sample", "eval", "doctor") \
            and "usage:" not in output:
        assert len([x for x in output.splitlines() if x.startswith("ganforge: error:")]) == 1
    assert not os.path.exists("/tmp/ganforge-hostile-marker")


def test_a_resume_that_does_nothing_leaves_config_yaml_as_it_was(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = (run / "config.yaml").read_bytes()
    assert cli(["train", "--resume", str(run), "steps=4"], capsys)[0] == 0
    assert (run / "config.yaml").read_bytes() == before


def test_an_unreadable_checkpoint_never_takes_a_kept_slot(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)   # keeps step 6 only (keep_checkpoints=3: 2, 4, 6)
    kept = [p.name for p in list_checkpoints(run / "checkpoints")]
    truncate_newest(run)
    code, out = cli(["train", "--resume", str(run), "--no-progress", "steps=12"], capsys)
    assert code == 0, out
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == [
        "step_0000008.pt", "step_0000010.pt", "step_0000012.pt"]
    assert (run / f"checkpoints/{kept[-1]}.unreadable").is_file()   # kept for the user
    assert load_checkpoint(run / "checkpoints/step_0000012.pt")["counters"]["step"] == 12
