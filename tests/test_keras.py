"""Keras 3 models (torch backend) trained by ganforge: ``ganforge.keras``.

The claims, each checked exactly on tiny 8x8 models: the wrapper's parameters are the Keras
trainable variables themselves (the non-trainable ones are buffers, never optimized); its
train()/eval() mode is Keras's ``training=``; images cross NCHW <-> NHWC once, from the
model's own data format; ``frozen`` freezes the Keras variables; a Trainer run (alternating
and one-step, a gradient penalty through Keras layers, EMA, a sampling callback) resumes bit
for bit from its state_dict; the exported ``.keras`` file gives the wrapper's outputs.
Skipped when Keras is not installed (CI installs it: ``pip install -e ".[test,keras]"``).
"""

import copy
import math
import os
import sys

os.environ["KERAS_BACKEND"] = "torch"   # before keras is imported, as the user must

import pytest
import torch

keras = pytest.importorskip("keras", minversion="3.0",
                            reason="Keras 3 is not installed: pip install -e '.[keras]'")

from conftest import assert_same, assert_same_state, opt_state   # noqa: E402
from ganforge import Alternating, Trainer, frozen                   # noqa: E402
from ganforge import keras as gk                                    # noqa: E402
from ganforge.doctor import DiversityProbe, Doctor                  # noqa: E402
from ganforge.errors import UserError                               # noqa: E402
from ganforge.objective import Objective                            # noqa: E402
from ganforge.regularizers import build_penalties                   # noqa: E402
from ganforge.steps import g_update                                 # noqa: E402

# Keras's own np.array(tensor) calls warn under numpy 2; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
layers = keras.layers
Z = 8


def keras_G(name="G"):
    """DCGAN-style functional G: z (N, 8) -> (N, 8, 8, 1) in [-1, 1], channels-last."""
    z = keras.Input((Z,))
    x = layers.Reshape((4, 4, 4))(layers.Dense(4 * 4 * 4, use_bias=False)(z))
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    out = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(x)
    return keras.Model(z, out, name=name)


def keras_D(name="D", units=1, sigmoid=False, data_format=None):
    """Sequential D with BatchNormalization and (unseeded) Dropout: (N, 8, 8, 1) -> (N, 1)."""
    shape = (1, 8, 8) if data_format == "channels_first" else (8, 8, 1)
    return keras.Sequential([
        keras.Input(shape),
        layers.Conv2D(4, 3, strides=2, padding="same", data_format=data_format),
        layers.BatchNormalization(axis=1 if data_format == "channels_first" else -1),
        layers.LeakyReLU(0.2), layers.Dropout(0.25),
        layers.Flatten(data_format=data_format),
        layers.Dense(units, activation="sigmoid" if sigmoid else None),
    ], name=name)


@keras.saving.register_keras_serializable(package="ganforge_tests")
class SubG(keras.Model):
    """A subclassed G, unbuilt until first called; serializable, so it can be copied (EMA)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(4 * 4 * 2)
        self.reshape = layers.Reshape((4, 4, 2))
        self.up = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")

    def call(self, z):
        return self.up(self.reshape(self.dense(z)))


@keras.saving.register_keras_serializable(package="ganforge_tests")
class SubD(keras.Model):
    """A subclassed D with seeded Dropout (its draws come from a Keras seed state)."""

    def __init__(self, units=1, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.conv = layers.Conv2D(4, 3, strides=2, padding="same")
        self.drop = layers.Dropout(0.25, seed=3)
        self.flat = layers.Flatten()
        self.head = layers.Dense(units)

    def call(self, x):
        return self.head(self.flat(self.drop(self.conv(x))))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class PlainG(keras.Model):
    """A subclassed G that Keras cannot save and reload (not registered)."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(64, activation="tanh")
        self.reshape = layers.Reshape((8, 8, 1))

    def call(self, z):
        return self.reshape(self.dense(z))


def pair(G=keras_G, D=keras_D):
    keras.utils.set_random_seed(0)
    return gk.wrap(G(), D())


def images(n=32, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def keras_var(module, fragment):
    return next(v for v in module.keras_model.variables if fragment in v.path)


def params(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


# --- errors ----------------------------------------------------------------------------------
def test_wrap_refuses_what_is_not_a_keras_model():
    G, D = keras_G(), keras_D()
    with pytest.raises(UserError, match="torch module .*Trainer directly"):
        gk.wrap(G, torch.nn.Linear(2, 1))
    with pytest.raises(UserError, match="must be a Keras model"):
        gk.to_torch("model.keras")
    G_t, D_t = gk.wrap(G, D)
    with pytest.raises(UserError, match="already wrapped"):
        gk.wrap(G_t, D)


def test_missing_keras_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)   # import keras -> ImportError
    with pytest.raises(UserError, match=r"pip install ganforge\[keras\]"):
        gk.require_keras()


def test_keras_on_another_backend_says_to_set_keras_backend(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(UserError, match="set KERAS_BACKEND=torch before importing keras"):
        gk.wrap(keras_G(), keras_D())


def test_d_with_several_outputs_or_a_sigmoid_is_refused():
    with pytest.raises(UserError, match=r"one logit per sample.*\(3,\).*Dense\(1\)"):
        gk.wrap(keras_G(), keras_D(units=3))
    with pytest.raises(UserError, match="sigmoid.*raw logits"):
        gk.wrap(keras_G(), keras_D(sigmoid=True))


def test_d_left_untrainable_by_the_combined_model_habit_is_refused():
    D = keras_D()
    D.trainable = False
    with pytest.raises(UserError, match=r"no trainable variables.*D.trainable = True"):
        gk.wrap(keras_G(), D)


def test_subclassed_d_with_several_outputs_is_caught_by_the_trainers_checks():
    keras.utils.set_random_seed(0)
    G, D = gk.wrap(SubG(), SubD(units=3), z_dim=Z)   # unbuilt: no static shape to read
    with pytest.raises(UserError, match=r"one logit per sample, shape \(N,\) or \(N, 1\)"):
        Trainer(G, D, seed=0, device="cpu").fit(images(), steps=1, progress=False)


def test_unbuilt_model_needs_its_input_shape():
    with pytest.raises(UserError, match="not built.*input_shape"):
        gk.to_torch(SubD())
    with pytest.raises(UserError, match="z_dim"):
        gk.wrap(SubG(), SubD())


# --- parameters, modes, layout ----------------------------------------------------------------
def test_parameters_are_exactly_the_keras_trainable_variables():
    G, D = pair()
    for module in (G, D):
        model = module.keras_model
        assert [id(p) for p in module.parameters()] == [id(v.value) for v in
                                                        model.trainable_variables]
        assert [id(b) for b in module.buffers()] == [id(v.value) for v in
                                                     model.non_trainable_variables]
    # BatchNormalization's moving statistics and the dropout seed state are buffers
    assert {n.split("_", 1)[1] for n, _ in D.named_buffers()} == {
        "moving_mean", "moving_variance", "seed_generator_state"}
    opt = torch.optim.Adam(D.parameters(), lr=0.1)
    stats = [b.clone() for b in D.buffers()]
    D.eval()
    D(images(4)).sum().backward()
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(stats, D.buffers()))   # not optimized
    n_trainable = sum(v.value.numel() for v in D.keras_model.trainable_variables)
    plan = Trainer(G, D, seed=0, device="cpu").plan().format()
    assert f"gradients: D: 6 tensors, {n_trainable:,} parameters" in plan
    assert "which holds exactly D's 6 trainable tensors" in plan


def test_train_mode_is_keras_training_and_eval_mode_is_inference():
    _, D = pair()
    x = images(8)
    x_keras = x.permute(0, 2, 3, 1)
    mean = keras_var(D, "moving_mean").value
    before = mean.clone()
    D.eval()
    with torch.no_grad():
        inference = D(x)
        assert torch.equal(inference, D.keras_model(x_keras))   # Keras's own default call
    assert torch.equal(mean, before)                            # eval: statistics untouched
    D.train()
    torch.manual_seed(1)
    with torch.no_grad():
        training = D(x)
    assert not torch.equal(mean, before)                        # train: moving stats updated
    assert not torch.allclose(training, inference)              # batch stats and dropout
    torch.manual_seed(1)
    with torch.no_grad():
        assert torch.equal(training, D.keras_model(x_keras, training=True))


def test_images_cross_the_boundary_once_in_the_models_own_format():
    G, D = pair()
    G.eval(), D.eval()
    z = torch.randn(3, Z)
    with torch.no_grad():
        out = G(z)
        assert out.shape == (3, 1, 8, 8)
        assert torch.equal(out, G.keras_model(z).permute(0, 3, 1, 2))
    keras.utils.set_random_seed(0)
    D_first = gk.to_torch(keras_D(data_format="channels_first")).eval()
    assert G.channels_last and D.channels_last and not D_first.channels_last
    x = images(3)
    with torch.no_grad():
        assert torch.equal(D(x), D.keras_model(x.permute(0, 2, 3, 1)))
        assert torch.equal(D_first(x), D_first.keras_model(x))   # channels_first: as is


def test_moving_to_channels_last_keeps_keras_and_the_module_on_the_same_tensors():
    keras.utils.set_random_seed(0)
    model = keras_D()
    model.layers[0].trainable = False            # a frozen conv: its 4-D kernel is a buffer
    D = gk.to_torch(model).eval()
    x = images(4)
    with torch.no_grad():
        before = D(x)
    D.to(memory_format=torch.channels_last)      # torch replaces 4-D buffers here
    assert [id(b) for b in D.buffers()] == [id(v.value) for v in model.non_trainable_variables]
    assert [id(p) for p in D.parameters()] == [id(v.value) for v in model.trainable_variables]
    with torch.no_grad():
        assert torch.equal(D(x), before)


# --- freezing ---------------------------------------------------------------------------------
def test_frozen_turns_off_the_keras_variables_and_restores_them():
    _, D = pair()
    D.v0_kernel.requires_grad_(False)   # a user's own frozen tensor stays frozen
    before = [p.requires_grad for p in D.parameters()]
    with frozen(D):
        assert not any(v.value.requires_grad for v in D.keras_model.trainable_variables)
    assert [p.requires_grad for p in D.parameters()] == before == [False] + [True] * 5
    with pytest.raises(RuntimeError, match="boom"):
        with frozen(D):
            raise RuntimeError("boom")
    assert [p.requires_grad for p in D.parameters()] == before


def test_g_update_computes_no_gradient_for_keras_D_and_leaves_it_and_opt_D_unchanged():
    G, D = pair()
    tr = Trainer(G, D, seed=0, device="cpu")
    tr.step(images(8))                               # D has .grad and Adam state now
    D_before, G_before = params(D), params(G)
    D_grads = [p.grad.clone() for p in D.parameters()]
    opt_D_before = opt_state(tr.opt_D)
    seen = []
    hook = D.register_forward_pre_hook(lambda m, args: seen.append(
        [v.value.requires_grad for v in m.keras_model.trainable_variables]))
    try:
        g_update(tr.players, 8)
    finally:
        hook.remove()
    assert seen and not any(any(flags) for flags in seen)   # frozen while G learned
    assert all(v.value.requires_grad for v in D.keras_model.trainable_variables)
    assert_same(params(D), D_before)
    assert all(torch.equal(p.grad, g) for p, g in zip(D.parameters(), D_grads))
    assert_same_state(opt_state(tr.opt_D), opt_D_before)
    assert not all(torch.equal(a, b) for a, b in zip(params(G).values(), G_before.values()))


# --- a full Trainer run -----------------------------------------------------------------------
def _trainer(schedule, pair_fn=pair, callbacks=()):
    G, D = pair_fn()
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    objective = Objective(penalties=build_penalties(gp=10), seed=0)
    return Trainer(G, D, opt_G, opt_D, schedule=schedule, objective=objective, ema=64,
                   seed=0, device="cpu", callbacks=callbacks)


@pytest.mark.parametrize("schedule", [Alternating(), "onestep"], ids=["alternating", "onestep"])
def test_trainer_with_penalty_and_ema_resumes_bit_for_bit(schedule):
    data = images(32)
    probe = DiversityProbe(data, every=1, n=8)       # samples G every step: must not disturb it
    full = _trainer(schedule, callbacks=[probe, Doctor(every=2, echo=False)])
    stats = full.fit(data, steps=4, batch_size=8, progress=False)
    assert float(stats["reg/gp"]) > 0 and math.isfinite(float(stats["loss/D"]))
    assert 0 < stats["diag/diversity"] and full.findings() == []
    half = _trainer(schedule)
    half.fit(data, steps=2, batch_size=8, progress=False)
    state = half.state_dict()
    torch.manual_seed(123)                           # another process's RNG
    resumed = _trainer(schedule)
    resumed.load_state_dict(state)
    resumed.fit(data, steps=2, batch_size=8, progress=False)
    for net in ("G", "D", "G_ema"):
        assert_same(getattr(resumed, net).state_dict(), getattr(full, net).state_dict())
    assert_same_state(opt_state(resumed.opt_G), opt_state(full.opt_G))
    assert_same_state(opt_state(resumed.opt_D), opt_state(full.opt_D))
    # the EMA is a separate Keras model, averaged, not trained
    G, G_ema = full.G, full.G_ema
    assert isinstance(G_ema, gk.KerasModule) and G_ema.keras_model is not G.keras_model
    assert not any(p.requires_grad for p in G_ema.parameters())
    assert not set(map(id, G_ema.parameters())) & set(map(id, G.parameters()))
    assert not torch.equal(G_ema.v0_kernel, G.v0_kernel)


def test_subclassed_models_train_with_seeded_dropout_and_resume_exactly():
    def sub_pair():
        keras.utils.set_random_seed(0)
        return gk.wrap(SubG(), SubD(), z_dim=Z)
    data = images(16)
    full = _trainer("alternating", sub_pair)
    full.fit(data, steps=3, batch_size=8, progress=False)
    half = _trainer("alternating", sub_pair)
    half.fit(data, steps=1, batch_size=8, progress=False)
    resumed = _trainer("alternating", sub_pair)
    resumed.load_state_dict(half.state_dict())
    resumed.fit(data, steps=2, batch_size=8, progress=False)
    seed_state = next(n for n, _ in full.D.named_buffers() if "seed_generator" in n)
    assert not torch.equal(full.D.get_buffer(seed_state), half.D.get_buffer(seed_state))
    assert_same(resumed.D.state_dict(), full.D.state_dict())
    assert_same(resumed.G.state_dict(), full.G.state_dict())


def test_ema_of_a_subclassed_g_that_keras_cannot_copy_says_what_to_add():
    keras.utils.set_random_seed(0)
    G, D = gk.wrap(PlainG(), keras_D(), z_dim=Z)
    with pytest.raises(UserError, match="register_keras_serializable"):
        Trainer(G, D, ema=64, seed=0, device="cpu")
    Trainer(G, D, seed=0, device="cpu").fit(images(8), steps=1, batch_size=8, progress=False)


def test_deepcopy_is_exact_and_independent_also_in_what_keras_copying_drops():
    keras.utils.set_random_seed(0)
    D = gk.to_torch(SubD(), input_shape=(1, 8, 8))
    x = images(4)
    with torch.no_grad():
        D(x), D(x)                                   # advances the dropout seed state
    clone = copy.deepcopy(D)                         # Keras's own copy restarts that state
    assert_same(clone.state_dict(), D.state_dict())
    assert clone.training and clone.keras_model is not D.keras_model
    storage = {t.data_ptr() for t in D.state_dict().values()}
    assert not storage & {t.data_ptr() for t in clone.state_dict().values()}
    with torch.no_grad():
        assert torch.equal(clone(x), D(x))           # the same dropout masks from here on
        next(clone.parameters()).add_(1.0)
        assert not torch.equal(clone(x), D(x))


# --- export -----------------------------------------------------------------------------------
def test_exported_generator_loads_in_keras_and_gives_the_same_images(tmp_path):
    tr = _trainer("alternating")
    tr.fit(images(16), steps=2, batch_size=8, progress=False)
    z = torch.randn(4, Z)
    for net in (tr.G, tr.G_ema):
        path = gk.export_generator(net, tmp_path / "G.keras")
        loaded = keras.saving.load_model(path)
        with torch.no_grad():
            theirs = loaded(z).permute(0, 3, 1, 2)   # NHWC, inference mode
            ours = net.eval()(z)
        net.train()
        torch.testing.assert_close(theirs, ours, rtol=0, atol=0)
    with pytest.raises(UserError, match=r"end in \.keras"):
        gk.export_generator(tr.G, tmp_path / "G.h5")
    with pytest.raises(UserError, match="wrapped by ganforge.keras"):
        gk.export_generator(tr.G.keras_model, tmp_path / "G.keras")


BUILDER = '''
import keras
from keras import layers


def build(sample_shape, z_dim, n_classes=None, filters=4):
    width = filters
    c, h, w = sample_shape
    z = keras.Input((z_dim,))
    x = layers.Reshape((h // 2, w // 2, width))(layers.Dense(h // 2 * w // 2 * width)(z))
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    G = keras.Model(z, layers.Conv2DTranspose(c, 4, strides=2, padding="same",
                                              activation="tanh")(x))
    D = keras.Sequential([keras.Input((h, w, c)), layers.Conv2D(width, 3, strides=2,
                          padding="same"), layers.LeakyReLU(0.2), layers.Dropout(0.25),
                          layers.Flatten(), layers.Dense(1)])
    return G, D
'''


def test_the_command_line_trains_keras_models_from_a_builder_and_exports_g(tmp_path, capsys):
    """model=file.py:build returning Keras models: trained by `ganforge train`, resumed, and
    `ganforge export --keras` gives a .keras file with the run's G_ema outputs."""
    import numpy as np

    from ganforge.checkpoint import load_checkpoint
    from ganforge.cli import main
    from ganforge.run import build_run, restore
    from ganforge.rundir import latest_for_reading

    (tmp_path / "knets.py").write_text(BUILDER)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(-1, 1, (64, 1, 8, 8))
            .astype("float32"))
    run = tmp_path / "run"
    args = ["train", "--no-progress", f"data={tmp_path / 'x.npy'}",
            f"model={tmp_path / 'knets.py'}:build", "model.z_dim=8", "model.filters=4",
            "batch_size=16", "log_every=2", "sample_every=0",
            "checkpoint_every=2", "tensorboard=false", "ema.half_life_images=100"]
    assert main([*args, "steps=4", f"run_dir={run}"]) == 0
    assert main(["export", str(run), "--keras", str(tmp_path / "g.keras")]) == 2
    assert "--trust-model-code" in capsys.readouterr().err
    assert main(["export", str(run), "--keras", str(tmp_path / "g.keras"),
                 "--trust-model-code"]) == 0
    found = latest_for_reading(run)
    again = build_run(found.cfg)
    restore(again, found.state, found.checkpoint)
    z = torch.randn(4, 8)
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    with torch.no_grad():
        ours = again.trainer.G_ema.eval()(z)
        theirs = loaded(z).permute(0, 3, 1, 2)
    torch.testing.assert_close(theirs, ours, rtol=0, atol=0)
    assert load_checkpoint(found.checkpoint)["counters"]["step"] == 4


def test_a_raw_keras_model_given_to_the_trainer_says_to_wrap_it():
    with pytest.raises(UserError, match=r"G is a Keras model: wrap both first"):
        Trainer(keras_G(), keras_D())
