"""Your own networks from the command line (model=file.py:function): trained, stored, resumed
bit for bit, never imported from a run directory without consent, and every mistake in the
user's code one clean message."""

import sys
import textwrap

import pytest
import torch
import yaml

from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main

TINY = ["data=ring8", "model.z_dim=2", "batch_size=32", "log_every=2", "sample_every=0",
        "checkpoint_every=2", "tensorboard=false"]

NETS = textwrap.dedent('''
    import pathlib
    import torch
    from torch import nn

    MARKER = pathlib.Path(__file__).with_name("imported.marker")
    MARKER.write_text("this file was imported")   # what a malicious builder could do

    class G(nn.Module):
        def __init__(self, z_dim, out, width, depth):
            super().__init__()
            layers, d = [], z_dim
            for _ in range(depth):
                layers += [nn.Linear(d, width), nn.ReLU()]
                d = width
            self.net = nn.Sequential(*layers, nn.Linear(d, out))
        def forward(self, z):
            return self.net(z)

    def build(sample_shape, z_dim, n_classes=None, width=16, depth=2):
        out = sample_shape[0]
        D = nn.Sequential(nn.Linear(out, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))
        return G(z_dim, out, width, depth), D

    def fails(sample_shape, z_dim, n_classes=None):
        raise ValueError("depth must be even")

    def three(sample_shape, z_dim, n_classes=None):
        return build(sample_shape, z_dim) + (None,)

    def not_modules(sample_shape, z_dim, n_classes=None):
        return "G", "D"

    def wrong_shape(sample_shape, z_dim, n_classes=None):
        return nn.Linear(z_dim, 3), nn.Linear(2, 1)
''')


@pytest.fixture
def nets(tmp_path):
    path = tmp_path / "code" / "nets.py"
    path.parent.mkdir()
    path.write_text(NETS)
    return path


def cli(args, capsys):
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_builder_trains_is_stored_and_resumes_bit_for_bit(nets, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.chdir(nets.parent)   # a relative path, stored resolved
    args = ["train", "--no-progress", *TINY, "model=nets.py:build", "model.depth=3"]
    assert main([*args, "steps=4", f"run_dir={tmp_path / 'whole'}"]) == 0
    saved = yaml.safe_load((tmp_path / "whole/config.yaml").read_text())
    assert saved["model"]["name"] == f"{nets}:build" and saved["model"]["depth"] == 3
    state = load_checkpoint(tmp_path / "whole/checkpoints/step_0000004.pt")
    assert sum(k.endswith("weight") for k in state["G"]) == 4   # depth 3 + the output layer
    assert main([*args, "steps=2", f"run_dir={tmp_path / 'split'}"]) == 0
    monkeypatch.chdir(tmp_path)   # elsewhere: the stored path still finds the file
    assert main(["train", "--no-progress", "--resume", str(tmp_path / "split"), "steps=4",
                 "--trust-model-code"]) == 0
    split = load_checkpoint(tmp_path / "split/checkpoints/step_0000004.pt")
    for net in ("G", "D"):
        assert all(torch.equal(state[net][k], split[net][k]) for k in state[net]), net


def test_a_run_directory_never_imports_its_builder_without_consent(nets, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--no-progress", *TINY, f"model={nets}:build", "steps=2",
                 f"run_dir={run}"]) == 0
    marker = nets.with_name("imported.marker")
    marker.unlink()
    for args in (["sample", run, "-o", tmp_path / "s.png"], ["eval", run, "--n", "100"],
                 ["train", "--resume", run, "steps=4"]):
        code, out = cli(args, capsys)
        assert code == 2 and "--trust-model-code" in out and str(nets) in out, out
        assert "Traceback" not in out and not marker.exists(), args
    assert cli(["doctor", run], capsys)[0] == 0 and not marker.exists()
    assert cli(["sample", run, "-o", tmp_path / "s.png", "--trust-model-code"], capsys)[0] == 0
    assert marker.exists() and (tmp_path / "s.png").exists()
    marker.unlink()
    code, out = cli(["train", "--no-progress", "--resume", run, "steps=4",
                     f"model={nets}:build"], capsys)   # named again: consent
    assert code == 0 and marker.exists(), out


@pytest.mark.parametrize("spec, extra, phrase", [
    ("{dir}/missing.py:build", [], "no file"),
    ("{dir}/nets.py:buidl", [], "has no function 'buidl' (it defines: G, build, fails"),
    ("{dir}/nets.py:fails", [], "raised ValueError: depth must be even (at "),
    ("{dir}/nets.py:three", [], "must return (G, D), two networks; it returned a tuple of 3"),
    ("{dir}/nets.py:not_modules", [], "returned a str as G"),
    ("{dir}/nets.py:wrong_shape", [], "shape"),
    ("{dir}/nets.py:build", ["model.heads=4"], "a builder takes sample_shape, z_dim, n_classes"),
    ("{dir}/nets.py:build", ["model.width=32"], "model.width configures ganforge's mlp/dcgan"),
    ("{dir}/nets.py:build", ["model.init=torch"], "model.init configures ganforge's mlp/dcgan"),
    ("no_such_module_xyz:build", [], "no module 'no_such_module_xyz'"),
    ("nets.py", [], "is not valid"),
    ("dcgan", ["model.depth=3"], "unknown config key 'model.depth'"),
])
def test_mistakes_in_the_users_code_are_one_clean_message(nets, tmp_path, capsys, spec, extra,
                                                           phrase):
    code, out = cli(["train", "--dry-run", *TINY, f"model={spec.format(dir=nets.parent)}",
                     *extra, f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 2 and phrase in out, out
    assert "Traceback" not in out
    assert len([x for x in out.splitlines() if x.startswith("ganforge: error:")]) == 1


def test_a_module_builder_on_the_python_path(nets, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(nets.parent))
    monkeypatch.delitem(sys.modules, "nets", raising=False)
    code, out = cli(["train", "--no-progress", *TINY, "model=nets:build", "model.width=8",
                     "steps=2", f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 2 and "model.width configures" in out   # ganforge's key, not the builder's
    code, out = cli(["train", "--no-progress", *TINY, "model=nets:build", "steps=2",
                     f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 0, out
    saved = yaml.safe_load((tmp_path / "run/config.yaml").read_text())
    assert saved["model"]["name"] == "nets:build"


@pytest.mark.parametrize("preset", ["dcgan", "wgan", "wgan-gp", "sngan", "r1", "sharp", "ttur"])
def test_every_preset_takes_a_builder(nets, tmp_path, capsys, preset):
    """A preset's own-net settings (sngan: model.d_batchnorm=false) describe ganforge's
    networks; with a builder they are inert, not a refusal the user cannot undo."""
    code, out = cli(["train", "--dry-run", *TINY, f"model={nets}:build", f"preset={preset}",
                     f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 0, out
    code, out = cli(["train", "--dry-run", *TINY, f"model={nets}:build", f"preset={preset}",
                     "model.width=32", f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 2 and "model.width configures ganforge's mlp/dcgan" in out, out
