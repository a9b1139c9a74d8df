"""`ganforge.evaluate_trainer` and `ganforge.sample_grid`: metrics and pictures of a Trainer
trained in Python, without a run directory."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.errors import UserError
from ganforge.evaluate import evaluate, evaluate_trainer, write_eval_json
from ganforge.images import latent_z, sample_grid
from ganforge.metrics.classifier import WEIGHTS
from ganforge.metrics.features import load_feature_net
from ganforge.metrics.fid import frechet_distance, gaussian_stats
from ganforge.metrics.mixture import mixture_modes
from ganforge.metrics.prdc import precision_recall
from ganforge.nets import MLPDiscriminator, MLPGenerator
from ganforge.sampling import generate

Z = 4
RED = (214, 39, 40)   # images._SAMPLE_DOT


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))


def points(n=500, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) * 0.5


def trainer_on(x, G, D, steps=3, **kwargs):
    """A CPU trainer after ``steps`` seeded steps on batches of 32 rows of ``x``."""
    trainer = ganforge.Trainer(G, D, seed=0, device="cpu", **kwargs)
    for i in range(steps):
        trainer.step(x[i * 32:(i + 1) * 32])
    return trainer


def points_trainer(out_dim=2, **kwargs):
    torch.manual_seed(0)
    G = MLPGenerator(Z, out_dim, hidden=16, depth=2)
    D = MLPDiscriminator(out_dim, hidden=16, depth=2)
    return trainer_on(points() if out_dim == 2 else torch.randn(200, out_dim), G, D, **kwargs)


def image_trainer(shape=(1, 28, 28), steps=1, **kwargs):
    torch.manual_seed(0)
    G = MLPGenerator(8, shape, hidden=16, depth=2, batchnorm=False, output="tanh")
    D = MLPDiscriminator(int(np.prod(shape)), hidden=16, depth=2)
    return trainer_on(images(200, shape), G, D, steps=steps, **kwargs)


def images(n, shape=(1, 28, 28), seed=1):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_evaluate_trainer_equals_evaluate_of_the_run_dir_it_was_restored_from(tmp_path):
    from ganforge.run import build_run, restore
    from ganforge.rundir import latest_for_reading

    run_dir = tmp_path / "ring"
    assert main(["train", "--no-progress", f"run_dir={run_dir}", "data=ring8", "model=mlp",
                 "model.width=16", "model.z_dim=4", "batch_size=32", "steps=10",
                 "sample_every=0", "checkpoint_every=10", "tensorboard=false"]) == 0
    spec = dict(metrics="modes,fid,pr", n=300, seed=2)
    from_dir = evaluate(run_dir, **spec)
    found = latest_for_reading(run_dir)
    run = build_run(found.cfg)
    restore(run, found.state, found.checkpoint)
    from_python = evaluate_trainer(run.trainer, run.batches.samples, data_name="ring8", **spec)
    assert from_python.step == from_dir.step == 10 and from_python.run_dir is None
    assert from_python.scores() == from_dir.scores()
    assert list(from_python.scores()) == ["modes", "high_quality", "reverse_kl", "fid",
                                          "precision", "recall"]
    for a, b in zip(from_python.values, from_dir.values):
        assert (a.provenance.reference, b.provenance.reference) == (
            "ring8/100000 samples", "ring8/train")
        assert replace(a.provenance, reference="") == replace(b.provenance, reference="")


def test_evaluate_trainer_on_points_equals_the_metrics_by_hand():
    trainer = points_trainer()
    x = points()
    ev = ganforge.evaluate_trainer(trainer, x, metrics="fid,pr", n=300, seed=3)
    fake = generate(trainer.G, latent_z(3, 300, (Z,)))
    real = x[:300]
    want = {"fid": frechet_distance(*gaussian_stats(fake), *gaussian_stats(real)),
            **precision_recall(real, fake, k=3)}
    assert ev.scores() == want
    assert ev.step == trainer.step_count == 3
    prov = {(v.provenance.feature_net, v.provenance.n_fake, v.provenance.n_real,
             v.provenance.reference, v.provenance.generator, v.provenance.seed,
             v.provenance.step) for v in ev.values}
    assert prov == {("identity", 300, 300, "user data/500 samples", "G", 3, 3)}


def test_evaluate_trainer_auto_metrics_for_unnamed_points_and_for_a_named_mixture():
    trainer = points_trainer()
    ev = evaluate_trainer(trainer, points(), n=50)
    assert list(ev.scores()) == ["fid", "kid", "kid_std", "precision", "recall", "density",
                                 "coverage"]
    ring = load_dataset("ring8", limit=1000)
    by_dataset = evaluate_trainer(trainer, ring, n=200)
    by_name = evaluate_trainer(trainer, ring.x, n=200, data_name="ring8")
    fake = generate(trainer.G, latent_z(0, 200, (Z,)))
    assert by_dataset.scores() == by_name.scores() == mixture_modes(fake, "ring8")
    assert by_dataset.values[0].provenance.reference == "ring8/1000 samples"


def test_evaluate_trainer_is_seeded_and_leaves_the_trainer_as_it_was():
    trainer = points_trainer()
    weights = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    rng = torch.get_rng_state()
    a = evaluate_trainer(trainer, points(), metrics="fid,dc", n=200, seed=5)
    b = evaluate_trainer(trainer, points(), metrics="fid,dc", n=200, seed=5)
    c = evaluate_trainer(trainer, points(), metrics="fid,dc", n=200, seed=6)
    assert a.scores() == b.scores() and a.values == b.values
    assert a.scores()["fid"] != c.scores()["fid"]
    assert torch.equal(torch.get_rng_state(), rng) and trainer.step_count == 3
    for k, v in trainer.G.state_dict().items():
        torch.testing.assert_close(v, weights[k], rtol=0, atol=0)


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="classifier weights not trained yet")
def test_evaluate_trainer_images_with_the_default_classifier_and_G_ema():
    trainer = image_trainer(ema=100)
    x = images(90)
    ev = evaluate_trainer(trainer, x, n=60, data_name="fashion-mnist")
    assert list(ev.scores()) == ["fid", "kid", "kid_std", "precision", "recall", "density",
                                 "coverage", "is", "is_std", "class_kl", "classes_covered"]
    net = load_feature_net("default")
    fake = net.features(generate(trainer.G_ema, latent_z(0, 60, (8,))))
    want = frechet_distance(*gaussian_stats(fake), *gaussian_stats(net.features(x[:60])))
    torch.testing.assert_close(ev.scores()["fid"], want, rtol=0, atol=0)
    fid = ev.values[0].provenance
    assert (fid.feature_net, fid.generator, fid.n_fake, fid.n_real, fid.reference) == (
        "ganforge-fmnist-classifier", "G_ema", 60, 60, "fashion-mnist/90 samples")
    plain = evaluate_trainer(trainer, x, metrics="fid", n=60, ema=False)
    assert plain.values[0].provenance.generator == "G"
    assert plain.scores()["fid"] != ev.scores()["fid"]   # G and G_ema differ after a step


def test_evaluate_trainer_other_images_need_a_feature_net_and_identity_works():
    trainer = image_trainer(shape=(1, 4, 4))
    x = images(200, (1, 4, 4))
    with pytest.raises(UserError, match=r"shape \(1, 4, 4\).*feature_net="):
        evaluate_trainer(trainer, x, n=100)
    ev = evaluate_trainer(trainer, x, metrics="fid", n=100, feature_net="identity")
    fake = generate(trainer.G, latent_z(0, 100, (8,))).flatten(1)
    want = frechet_distance(*gaussian_stats(fake), *gaussian_stats(x[:100].flatten(1)))
    assert ev.scores() == {"fid": want}


@pytest.mark.parametrize("data, n, words", [
    ([[0.0, 1.0], [1.0, 0.0]], 100, "must be a tensor"),
    (torch.zeros(10, 2, dtype=torch.uint8), 100, "x.float"),
    (torch.zeros(10, 2, 2), 100, r"shape \(2, 2\)"),
    (torch.zeros(1, 2), 100, "at least 2"),
    (torch.full((10, 2), float("nan")), 100, "NaN"),
    (torch.zeros(10, 3), 100, r"shape \(2,\) but the real data's samples are \(3,\)"),
    (torch.zeros(10, 2), 1, "n must be a whole number of samples, at least 2"),
])
def test_evaluate_trainer_user_errors(data, n, words):
    trainer = points_trainer(steps=0)
    with pytest.raises(UserError, match=words):
        evaluate_trainer(trainer, data, n=n)


def test_a_generator_in_place_of_the_trainer_is_a_user_error():
    trainer = points_trainer(steps=0)
    with pytest.raises(UserError, match="expected a ganforge.Trainer, got MLPGenerator"):
        evaluate_trainer(trainer.G, points(), n=100)
    with pytest.raises(UserError, match="expected a ganforge.Trainer, got MLPGenerator"):
        sample_grid(trainer.G)


def test_ema_true_without_G_ema_is_a_user_error_naming_the_argument():
    trainer = points_trainer(steps=0)
    with pytest.raises(UserError, match="ema=True was asked for, but this run has no G_ema"):
        evaluate_trainer(trainer, points(), n=100, ema=True)
    with pytest.raises(UserError, match="ema=True was asked for"):
        sample_grid(trainer, n=4, ema=True)


def test_evaluation_prints_a_table_and_writes_only_where_told(tmp_path):
    ev = evaluate_trainer(points_trainer(), points(), metrics="fid", n=100)
    lines = str(ev).splitlines()
    assert lines[0].split() == ["metric", "trainer@3", "n_fake", "n_real", "feature", "net"]
    assert lines[1].split() == ["fid", f"{ev.scores()['fid']:.4g}", "100", "100", "identity"]
    assert lines[2] == "samples from G, seed 0; reference user data/500 samples"
    shown = []
    ev._repr_pretty_(SimpleNamespace(text=shown.append), cycle=False)   # a bare `ev` in Jupyter
    assert shown == [str(ev)]
    assert ganforge.evaluate_trainer is evaluate_trainer and ganforge.sample_grid is sample_grid
    with pytest.raises(UserError, match="pass path="):
        write_eval_json(ev)
    written = write_eval_json(ev, path=tmp_path / "eval.json")
    assert '"reference": "user data/500 samples"' in written.read_text()


def test_sample_grid_of_images_is_make_grid_of_the_seeded_samples():
    trainer = image_trainer()
    picture = ganforge.sample_grid(trainer, n=10, seed=4)
    assert isinstance(picture, Image.Image) and picture.mode == "L"
    # ceil(sqrt(10)) = 4 columns, 3 rows, 28x28 cells and 2 white pixels of padding.
    assert picture.size == (4 * (28 + 2) + 2, 3 * (28 + 2) + 2)
    pixels = np.asarray(picture)
    with torch.no_grad():
        first = trainer.G_sample(latent_z(4, 10, (8,)))[0, 0]
    want = ((first.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(pixels[2:30, 2:30], want)
    assert (pixels[:2] == 255).all() and (pixels[:, :2] == 255).all()
    assert np.array_equal(np.asarray(sample_grid(trainer, n=10, seed=4)), pixels)


def test_sample_grid_of_rgb_images_and_of_points():
    rgb = sample_grid(image_trainer(shape=(3, 8, 8)), n=4)
    assert rgb.mode == "RGB" and rgb.size == (2 * 10 + 2, 2 * 10 + 2)
    trainer = points_trainer()
    rng = torch.get_rng_state()
    scatter = sample_grid(trainer, n=200, seed=1)
    assert scatter.mode == "RGB" and scatter.size == (512, 512)
    colours = {tuple(c) for c in np.asarray(scatter).reshape(-1, 3)}
    assert RED in colours and (255, 255, 255) in colours
    assert torch.equal(torch.get_rng_state(), rng)
    again, other = sample_grid(trainer, n=200, seed=1), sample_grid(trainer, n=200, seed=2)
    assert again.tobytes() == scatter.tobytes() != other.tobytes()


@pytest.mark.parametrize("make, n, words", [
    (lambda: points_trainer(out_dim=3, steps=0), 4, r"shape \(3,\) cannot be drawn"),
    (lambda: image_trainer(shape=(2, 4, 4), steps=0), 4, r"shape \(2, 4, 4\) cannot be drawn"),
    (lambda: points_trainer(steps=0), 0, "n must be a whole number of samples, at least 1"),
])
def test_sample_grid_user_errors(make, n, words):
    with pytest.raises(UserError, match=words):
        sample_grid(make(), n=n)
