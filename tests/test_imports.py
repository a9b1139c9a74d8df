"""The command line answers argument and config mistakes before it imports torch.

``import torch`` takes about 3 s on the CPUs we use; the CLI parses the arguments and checks the
whole config (every key, its range, the registries it names, the rules between keys) without
it, so ``--help``, ``presets`` and every config error take a fraction of a second. This test
pins the mechanism (no torch in ``sys.modules``), not a time.
"""

import subprocess
import sys

PROBE = r"""
import io, sys, contextlib
from ganforge.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    codes = [main(args) for args in {cases!r}]
assert "torch" not in sys.modules, "torch was imported"
print(codes)
"""

CASES = [
    ["presets"],
    ["train", "stepz=3"],                                  # a typo in a key
    ["train", "loss=hinj"],                                # a value outside a registry
    ["train", "lr_G=inf"],                                 # out of range
    ["train", "schedule=onestep", "d_steps=5"],            # a rule between keys
    ["train", "optim_G.name=sgd", "optim_G.betas=[0.9,0.9]"],
    ["train", "eval.metrics=fid,fdi"],
    ["train", "augment.policy=flip"],
    ["train", "preset=wgan-gp", "schedule=onestep"],
    ["plan", "balance=sometimes"],
    ["train", "--resume", "/nonexistent/run"],
]


def test_config_errors_and_presets_do_not_import_torch():
    out = subprocess.run([sys.executable, "-c", PROBE.format(cases=CASES)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([0] + [2] * (len(CASES) - 1))


def test_help_does_not_import_torch():
    probe = ("import sys\nfrom ganforge.cli import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\nassert 'torch' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "train" in out.stdout


def test_training_never_imports_keras():
    """Keras is an optional extra: a whole CLI run, a Python run with a RunDir and an
    evaluation leave it unimported (only ganforge.keras and a Keras builder import it)."""
    probe = (
        "import sys, tempfile, torch\n"
        "from ganforge import Trainer, RunDir, evaluate_trainer\n"
        "from ganforge.cli import main\n"
        "d = tempfile.mkdtemp()\n"
        "assert main(['train', '--no-progress', 'data=ring8', 'model=mlp', 'steps=2',\n"
        "             'tensorboard=false', 'run_dir=' + d + '/cli']) == 0\n"
        "t = Trainer(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1), z_dim=2, seed=0,\n"
        "            callbacks=[RunDir(d + '/py', tensorboard=False)])\n"
        "t.fit(torch.randn(64, 2), steps=2, batch_size=16, progress=False)\n"
        "evaluate_trainer(t, torch.randn(64, 2), n=64)\n"
        "assert 'keras' not in sys.modules, 'keras was imported'\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
