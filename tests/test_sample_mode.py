"""sample_mode: how G normalizes when it draws samples (batch statistics or BatchNorm's
running averages), honoured by every place that samples for the user."""

import pytest
import torch

import ganforge
from ganforge.config import build_config
from ganforge.errors import UserError
from ganforge.images import latent_z
from ganforge.metrics.fid import frechet_distance, gaussian_stats
from ganforge.nets import MLPDiscriminator, MLPGenerator
from ganforge.run import build_run
from ganforge.sampling import generate

Z = 4


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))


def ring_trainer(**kwargs):
    """A few seeded steps on ring8 points; G has BatchNorm, so the two modes differ."""
    torch.manual_seed(0)
    G, D = MLPGenerator(Z, 2, hidden=16, depth=2), MLPDiscriminator(2, hidden=16, depth=2)
    trainer = ganforge.Trainer(G, D, seed=0, device="cpu", **kwargs)
    x = ganforge.data.load_dataset("ring8", limit=256).x
    for i in range(4):
        trainer.step(x[i * 64:(i + 1) * 64])
    return trainer


def test_eval_mode_is_the_running_averages_and_train_mode_the_batch_statistics():
    G = ring_trainer().G
    z = torch.randn(300, Z, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in G.state_dict().items()}
    ours = {m: generate(G, z, mode=m) for m in ("eval", "train")}
    ours_7 = generate(G, z[:7], mode="eval")
    assert G.training and all(torch.equal(v, before[k]) for k, v in G.state_dict().items())
    with torch.no_grad():   # by hand; eval first (a train-mode forward moves the averages)
        G.eval()
        by_hand_eval = torch.cat([G(part) for part in z.split(256)])
        G.train()
        by_hand_train = torch.cat([G(part) for part in z.split(256)])
    torch.testing.assert_close(ours["eval"], by_hand_eval, rtol=0, atol=0)
    torch.testing.assert_close(ours["train"], by_hand_train, rtol=0, atol=0)
    assert not torch.equal(by_hand_eval, by_hand_train)
    # eval mode draws each z on its own: the same z gives the same sample in any batch
    torch.testing.assert_close(ours_7, by_hand_eval[:7])


def test_an_unknown_mode_is_one_clear_error():
    G = MLPGenerator(Z, 2, hidden=8, depth=1)
    with pytest.raises(UserError, match="sample_mode must be one of train, eval"):
        generate(G, torch.randn(4, Z), mode="running")
    with pytest.raises(UserError, match="sample_mode must be one of train, eval"):
        ganforge.Trainer(G, MLPDiscriminator(2, hidden=8, depth=1), sample_mode="Eval")


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_evaluation_and_sample_grids_use_the_trainers_mode(mode):
    trainer = ring_trainer(sample_mode=mode)
    real = ganforge.data.load_dataset("ring8", limit=300).x
    ev = ganforge.evaluate_trainer(trainer, real, metrics="fid", n=300, seed=2)
    fid = {m: frechet_distance(*gaussian_stats(generate(trainer.G, latent_z(2, 300, (Z,)),
                                                        mode=m)), *gaussian_stats(real))
           for m in ("train", "eval")}
    assert fid["train"] != fid["eval"]
    assert ev.scores() == {"fid": fid[mode]}
    grid = ganforge.sample_grid(trainer, n=16, seed=0)
    again = ganforge.sample_grid(ring_trainer(sample_mode=mode), n=16, seed=0)
    assert grid.tobytes() == again.tobytes()


def test_the_config_key_reaches_the_trainer_and_the_plan():
    base = ["data=ring8", "model=mlp", "model.width=16", "steps=2", "tensorboard=false",
            "checkpoint_every=0"]
    assert build_run(build_config(None, base)).trainer.sample_mode == "train"
    run = build_run(build_config(None, [*base, "sample_mode=eval"]))
    assert run.trainer.sample_mode == "eval"
    assert "G in eval mode (BatchNorm running averages)" in run.trainer.plan().format()
    with pytest.raises(UserError, match="sample_mode"):
        build_config(None, [*base, "sample_mode=running"])


def test_preset_sharp_samples_in_eval_mode():
    cfg = build_config(None, ["preset=sharp"])
    assert cfg.sample_mode == "eval"
    assert build_config(None, ["preset=sharp", "sample_mode=train"]).sample_mode == "train"


def test_sample_mode_does_not_change_training_and_may_change_on_resume(tmp_path):
    from ganforge.checkpoint import load_checkpoint
    from ganforge.cli import main

    ring = ["train", "--no-progress", "data=ring8", "model=mlp", "model.width=16",
            "batch_size=32", "sample_every=5", "checkpoint_every=5", "tensorboard=false"]
    assert main([*ring, f"run_dir={tmp_path / 'train'}", "steps=10"]) == 0
    assert main([*ring, f"run_dir={tmp_path / 'eval'}", "steps=5", "sample_mode=eval",
                 "eval.every=5", "eval.metrics=modes", "eval.n=300"]) == 0
    assert main(["train", "--no-progress", "--resume", str(tmp_path / "eval"), "steps=10",
                 "sample_mode=train"]) == 0
    a = load_checkpoint(tmp_path / "train/checkpoints/step_0000010.pt")
    b = load_checkpoint(tmp_path / "eval/checkpoints/step_0000010.pt")
    for net in ("G", "D"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
