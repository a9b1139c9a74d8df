"""Python users get what the command line gives: a RunDir writes the CLI's files for the same
settings, a killed script run again continues bit for bit, the progress bar shows on a
terminal (and not when turned off), the doctor's findings reach a Python run, and the CLI's
commands on a Python run directory say what to do instead."""

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge import Trainer
from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main
from ganforge.config import build_config
from ganforge.errors import UserError
from ganforge.run import build_run
from ganforge.run_directory import RunDir

REPO = Path(__file__).resolve().parents[1]
TINY = ["data=ring8", "model=mlp", "model.width=8", "model.z_dim=2", "batch_size=32",
        "log_every=2", "sample_every=4", "checkpoint_every=4", "keep_checkpoints=3",
        "n_samples=16", "tensorboard=true", "seed=3"]


def files(run_dir: Path) -> list[str]:
    """Relative paths, with TensorBoard's event file names (host and time) reduced to tb/."""
    out = set()
    for p in run_dir.rglob("*"):
        if p.is_file():
            rel = p.relative_to(run_dir).as_posix()
            out.add("tb/<events>" if rel.startswith("tb/") else rel)
    return sorted(out)


def rows(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if not k.startswith("time/")}
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_python_run_writes_the_files_and_rows_of_the_cli_run(tmp_path, capsys):
    assert main(["train", "--no-progress", *TINY, "steps=8", f"run_dir={tmp_path / 'cli'}"]) == 0
    run = build_run(build_config(None, [*TINY, "steps=8"]))
    run.trainer.callbacks = [RunDir(tmp_path / "py", log_every=2, sample_every=4,
                                    checkpoint_every=4, keep_checkpoints=3, n_samples=16)]
    run.trainer.fit(run.batches, steps=8, progress=False)
    assert files(tmp_path / "py") == files(tmp_path / "cli")
    assert rows(tmp_path / "py") == rows(tmp_path / "cli")
    cli = load_checkpoint(tmp_path / "cli/checkpoints/step_0000008.pt")
    py = load_checkpoint(tmp_path / "py/checkpoints/step_0000008.pt")
    assert all(torch.equal(cli["G"][k], py["G"][k]) for k in cli["G"])
    record = (tmp_path / "py/config.yaml").read_text()
    assert "python:" in record and "MLPGenerator" in record and "torch.optim.adam.Adam" in record


SCRIPT = textwrap.dedent('''
    import os, signal, sys
    import torch
    from torch import nn
    from ganforge import Trainer, RunDir
    from ganforge.callbacks import Callback

    class G(nn.Module):            # the user's own networks, not ganforge's
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        def forward(self, z):
            return self.net(z)

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        def forward(self, x):
            return self.net(x)

    class KillAt(Callback):
        def on_step_end(self, trainer, stats):
            if trainer.step_count == int(os.environ.get("KILL_AT", "0")):
                os.kill(os.getpid(), signal.SIGKILL)

    torch.manual_seed(0)
    g, d = G(), D()
    trainer = Trainer(g, d, opt_G=torch.optim.Adam(g.parameters(), 1e-3),
                      opt_D=torch.optim.Adam(d.parameters(), 2e-3), seed=0, z_dim=2,
                      callbacks=[RunDir(sys.argv[1], log_every=2, sample_every=0,
                                        checkpoint_every=4, tensorboard=False), KillAt()])
    data = torch.randn(512, 2, generator=torch.Generator().manual_seed(1)) * 0.5
    trainer.fit(data, until=12, batch_size=32, progress=False)
    print("done at", trainer.step_count)
''')


def run_script(script: Path, run_dir: Path, **env):
    return subprocess.run([sys.executable, str(script), str(run_dir)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def test_a_killed_python_script_run_again_ends_where_the_uninterrupted_one_does(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    whole = run_script(script, tmp_path / "whole")
    assert whole.returncode == 0 and "done at 12" in whole.stdout, whole.stderr
    killed = run_script(script, tmp_path / "split", KILL_AT="10")
    assert killed.returncode == -9   # SIGKILL after the checkpoint of step 8
    again = run_script(script, tmp_path / "split")
    assert again.returncode == 0 and "done at 12" in again.stdout, again.stderr
    assert "continuing" in again.stderr and "step_0000008.pt" in again.stderr
    a = load_checkpoint(tmp_path / "whole/checkpoints/step_0000012.pt")
    b = load_checkpoint(tmp_path / "split/checkpoints/step_0000012.pt")
    for net in ("G", "D"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
    assert rows(tmp_path / "split") == rows(tmp_path / "whole")
    # The CLI's commands on this directory: doctor works, the rest say what to do instead.
    assert main(["doctor", str(tmp_path / "split")]) == 0
    for args in (["sample", str(tmp_path / "split")], ["eval", str(tmp_path / "split")],
                 ["train", "--resume", str(tmp_path / "split")],
                 ["train", "data=ring8", f"run_dir={tmp_path / 'split'}"]):
        assert main(args) == 2, args


def test_the_cli_names_the_python_equivalents(tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    assert run_script(script, tmp_path / "run").returncode == 0
    assert main(["sample", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("ganforge: error:") == 1 and "trained from Python" in err
    assert "trainer.sample_grid" in err and "evaluate_trainer" in err


def test_fit_takes_steps_or_until():
    G, D = nn.Linear(2, 2), nn.Linear(2, 1)
    trainer = Trainer(G, D, seed=0, z_dim=2)
    data = torch.randn(64, 2)
    with pytest.raises(UserError, match="either steps= .* or until="):
        trainer.fit(data, steps=2, until=4)
    trainer.fit(data, until=3, batch_size=16, progress=False)
    trainer.fit(data, until=2, batch_size=16, progress=False)   # already past: nothing
    assert trainer.step_count == 3


def test_a_run_dir_refuses_a_trainer_at_another_step(tmp_path):
    G, D = nn.Linear(2, 2), nn.Linear(2, 1)
    data = torch.randn(64, 2)
    Trainer(G, D, seed=0, z_dim=2, callbacks=[RunDir(tmp_path, tensorboard=False)]).fit(
        data, steps=2, batch_size=16, progress=False)
    other = Trainer(nn.Linear(2, 2), nn.Linear(2, 1), seed=0, z_dim=2)
    other.fit(data, steps=1, batch_size=16, progress=False)
    other.callbacks = [RunDir(tmp_path, tensorboard=False)]
    with pytest.raises(UserError, match="holds a run at step 2 .* this trainer is at step 1"):
        other.fit(data, steps=1, batch_size=16, progress=False)
    wider = Trainer(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 4), nn.Linear(4, 1)), seed=0,
                    z_dim=2, callbacks=[RunDir(tmp_path, tensorboard=False)])
    with pytest.raises(UserError, match="different networks"):
        wider.fit(data, steps=1, batch_size=16, progress=False)


class Constant(nn.Module):
    """A generator that all but ignores z: collapse by construction."""

    def __init__(self):
        super().__init__()
        self.where = nn.Parameter(torch.tensor([0.5, -0.5]))
        self.z = nn.Linear(2, 2)

    def forward(self, z):
        return self.where + 1e-3 * self.z(z)


def test_the_doctor_names_a_collapse_in_a_python_run(tmp_path):
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    run_dir = RunDir(tmp_path, log_every=50, sample_every=0, checkpoint_every=0,
                     tensorboard=False, log=lambda msg: None)
    trainer = Trainer(Constant(), D, seed=0, z_dim=2, callbacks=[run_dir])
    ring = torch.randn(4096, 2, generator=torch.Generator().manual_seed(0))
    trainer.fit(ring, steps=1000, batch_size=64, progress=False)   # probes at 500, 750, 1000
    kinds = [f.kind for f in trainer.findings()]
    assert "mode_collapse" in kinds and kinds == [f.kind for f in run_dir.findings]
    recorded = [json.loads(x)["kind"] for x in
                (tmp_path / "findings.jsonl").read_text().splitlines()]
    assert "mode_collapse" in recorded


PROGRESS = textwrap.dedent('''
    import sys, torch
    from torch import nn
    from ganforge import Trainer
    t = Trainer(nn.Linear(2, 2), nn.Linear(2, 1), seed=0, z_dim=2)
    t.fit(torch.randn(256, 2), steps=40, batch_size=32, progress=sys.argv[1] == "on")
''')


def on_a_terminal(args) -> str:
    """stderr of ``python -c PROGRESS args`` written to a pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # 100 columns
    proc = subprocess.Popen([sys.executable, "-c", PROGRESS, *args], stdout=subprocess.DEVNULL,
                            stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:   # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    return out.decode(errors="replace")


def test_progress_shows_on_a_terminal_and_not_when_off():
    shown = on_a_terminal(["on"])
    assert "40/40" in shown and ("step/s" in shown or "s/step" in shown), shown
    assert on_a_terminal(["off"]).strip() == ""
    piped = subprocess.run([sys.executable, "-c", PROGRESS, "on"], capture_output=True,
                           text=True, timeout=60)
    assert [line.split()[:2] for line in piped.stderr.splitlines()] == [["step", "40/40"]]
