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
