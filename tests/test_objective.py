"""The stabilization toolkit inside the engine: penalties, lazy intervals, clipping, label
smoothing, feature matching, augmentation, EMA, presets; the same D gradient under alternating
and one-step training, and exact resume with all of it on."""

import copy

import pytest
import torch

from conftest import dcgan_pair, mlp_pair
from ganforge import Trainer
from ganforge.augment import DiffAugment
from ganforge.config import build_config
from ganforge.ema import EMA
from ganforge.errors import UserError
from ganforge.freeze import frozen
from ganforge.improved import feature_matching_loss
from ganforge.noise import InstanceNoise
from ganforge.objective import Objective
from ganforge.regularizers import build_penalties, r1
from ganforge.steps import Alternating, OneStep, d_update, g_update, onestep_fused, onestep_stopgrad


def make(pair=mlp_pair, loss="nonsaturating", dtype=torch.float64, schedule="alternating",
         objective_kw=None, **kw):
    torch.manual_seed(0)
    G, D = (m.to(dtype) for m in pair())
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.0, 0.9))
    objective = Objective(**(objective_kw or {}), seed=5)
    return Trainer(G, D, opt_G, opt_D, loss=loss, schedule=schedule, seed=0, device="cpu",
                   objective=objective, **kw)


def real_for(pair, n=8, dtype=torch.float64):
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(n, 2, generator=gen) if pair is mlp_pair else
         torch.rand(n, 1, 28, 28, generator=gen) * 2 - 1)
    return x.to(dtype)


PENALTIES = [dict(gp=10.0), dict(gp=10.0, gp_one_sided=True), dict(r1=10.0), dict(r2=3.0),
             dict(dragan=5.0), dict(l2_D=1e-2)]


@pytest.mark.parametrize("impl", [onestep_fused, onestep_stopgrad])
@pytest.mark.parametrize("pen", PENALTIES, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_every_penalty_gives_the_same_D_gradient_in_both_schedules(pair, pen, impl):
    loss = "wasserstein" if "gp" in pen else "nonsaturating"
    kw = {"penalties": build_penalties(**pen)}
    alt, one = make(pair, loss, objective_kw=kw), make(pair, loss, objective_kw=kw)
    real = real_for(pair)
    d_update(alt.players, real)
    impl(one.players, real)
    for a, b in zip(alt.D.parameters(), one.D.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)


def penalty_gradient(D, value):
    """d value / d D's parameters, zeros where the value does not depend on one (R1 does not
    depend on the last layer's bias)."""
    grads = torch.autograd.grad(value, list(D.parameters()), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(D.parameters(), grads)]


@pytest.mark.parametrize("interval", [1, 3])
def test_a_penalty_adds_exactly_interval_times_its_term_when_due(interval):
    """D's gradient = the plain D-loss gradient + interval * gamma/2 * grad r1 on due steps
    (0, k, 2k, ...), and exactly the plain gradient in between."""
    tr = make(objective_kw={"penalties": build_penalties(r1=4.0, interval=interval)})
    real = real_for(mlp_pair)
    due = []
    for step in range(2 * interval):
        plain = make()
        plain.D.load_state_dict(tr.D.state_dict())
        plain.players.z_generator.set_state(tr.players.z_generator.get_state())
        D0 = copy.deepcopy(tr.D)
        stats = d_update(tr.players, real)
        d_update(plain.players, real)
        due.append("reg/r1" in stats)
        want = (penalty_gradient(D0, interval * 2.0 * r1(D0, real)) if due[-1] else
                [torch.zeros_like(p) for p in D0.parameters()])
        for t, u, w in zip(tr.D.parameters(), plain.D.parameters(), want):
            torch.testing.assert_close(t.grad - u.grad, w, rtol=1e-9, atol=1e-12)
    assert due == [step % interval == 0 for step in range(2 * interval)]


def test_weight_clipping_bounds_D_after_every_step():
    tr = make(loss="wasserstein", objective_kw={"clip_D": 0.01}, schedule=Alternating(d_steps=2))
    for _ in range(3):
        tr.step([real_for(mlp_pair), real_for(mlp_pair)])
        assert all(p.abs().max() <= 0.01 for p in tr.D.parameters())


def test_gradient_norm_clipping_per_network():
    tr = make(objective_kw={"grad_clip_D": 1e-3, "grad_clip_G": 1e-5})
    stats = tr.step(real_for(mlp_pair))   # diag/grad_norm_* are the norms before clipping
    for net, c in ((tr.D, 1e-3), (tr.G, 1e-5)):
        before = stats[f"diag/grad_norm_{'D' if net is tr.D else 'G'}"]
        assert before > 2 * c
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))
        # clip_grad_norm_ scales by max_norm / (norm + 1e-6).
        assert float(after) == pytest.approx(c * before / (before + 1e-6), rel=1e-6)


def test_label_smoothing_in_the_step_matches_the_formula():
    tr = make(objective_kw={"real_label": 0.9})
    real = real_for(mlp_pair)
    D0, G0 = copy.deepcopy(tr.D), copy.deepcopy(tr.G)
    z_state = tr.players.z_generator.get_state()
    stats = d_update(tr.players, real)
    tr.players.z_generator.set_state(z_state)
    fake = G0(tr.players.sample_z(8))
    r, f = D0(real), D0(fake)
    sp = torch.nn.functional.softplus
    want = (0.9 * sp(-r) + 0.1 * sp(r)).mean() + sp(f).mean()
    torch.testing.assert_close(stats["loss/D"], want.detach().squeeze(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("schedule", ["alternating", "onestep"])
def test_feature_matching_gradient_reaches_G_only_and_equals_the_reference(schedule):
    tr = make(dcgan_pair, schedule=schedule, objective_kw={"feature_matching": 0.5})
    real = real_for(dcgan_pair)
    G0, D0 = copy.deepcopy(tr.G), copy.deepcopy(tr.D)
    z_state = tr.players.z_generator.get_state()
    if schedule == "alternating":
        d_update(tr.players, real)
        D0 = copy.deepcopy(tr.D)     # G's step goes through the updated D
        tr.players.z_generator.set_state(tr.players.z_generator.get_state())
        z_state = tr.players.z_generator.get_state()
        g_update(tr.players, 8, real=real)
    else:
        onestep_fused(tr.players, real)
    gen = torch.Generator().set_state(z_state)
    z = torch.randn((8, *tr.players.z_shape), generator=gen).double()
    with frozen(D0):
        fake = G0(z)
        total = (tr.loss.g_loss(D0(fake))
                 + 0.5 * feature_matching_loss(D0.features(real), D0.features(fake)))
        want = torch.autograd.grad(total, list(G0.parameters()))
    for t, w in zip(tr.G.parameters(), want):
        torch.testing.assert_close(t.grad, w, rtol=1e-9, atol=1e-12)


def test_feature_matching_with_stopgrad_is_refused():
    tr = make(dcgan_pair, schedule=OneStep(impl="stopgrad"),
              objective_kw={"feature_matching": 1.0})
    with pytest.raises(UserError, match="onestep_impl=fused"):
        tr.step(real_for(dcgan_pair))


def test_zero_sum_shortcut_is_off_when_G_has_extra_terms():
    """Wasserstein + L2 on G: G's loss is no longer minus D's fake term; the fused step must
    take the general path, and its G gradient still equals the definition."""
    tr = make(loss="wasserstein", schedule="onestep", objective_kw={"l2_G": 0.1})
    assert not tr.objective.plain_g
    real = real_for(mlp_pair)
    G0, D0 = copy.deepcopy(tr.G), copy.deepcopy(tr.D)
    z_state = tr.players.z_generator.get_state()
    onestep_fused(tr.players, real)
    z = torch.randn((8, *tr.players.z_shape), generator=torch.Generator().set_state(z_state))
    with frozen(D0):
        total = -D0(G0(z.double())).mean() + 0.1 * sum(p.square().sum() for p in G0.parameters())
        want = torch.autograd.grad(total, list(G0.parameters()))
    for t, w in zip(tr.G.parameters(), want):
        torch.testing.assert_close(t.grad, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("schedule", ["alternating", "onestep"])
def test_augmentation_reaches_every_D_input_and_G_gets_gradient_through_it(schedule):
    aug = DiffAugment(p=1.0, policy=("translation", "cutout"))
    tr = make(dcgan_pair, schedule=schedule, objective_kw={"augment": aug})
    seen = []
    tr.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    real = real_for(dcgan_pair)
    tr.step(real)
    # Cutout zeroes a square in every sample: no D input equals the raw real batch.
    assert not any(torch.equal(x, real) for x in seen)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
               for p in tr.G.parameters())


def test_resume_is_exact_with_penalties_augmentation_noise_history_and_ema():
    def build():
        t = make(dcgan_pair, objective_kw={
            "penalties": build_penalties(gp=1.0, r1=1.0, interval=2),
            "augment": DiffAugment(p=0.5), "noise": InstanceNoise(0.1, 10),
            "historical_averaging": 1e-3, "real_label": 0.9},
            loss="least_squares")
        t.ema = EMA(t.G, half_life_images=40)
        return t
    batches = [real_for(dcgan_pair) for _ in range(4)]
    full = build()
    for x in batches:
        full.step(x)
    half = build()
    for x in batches[:2]:
        half.step(x)
    state = copy.deepcopy(half.state_dict())
    resumed = build()
    resumed.load_state_dict(state)
    for x in batches[2:]:
        resumed.step(x)
    for key in ("G", "D"):
        for (k, a), b in zip(full.state_dict()[key].items(), resumed.state_dict()[key].values()):
            assert torch.equal(a, b), (key, k)
    for a, b in zip(full.G_ema.state_dict().values(), resumed.G_ema.state_dict().values()):
        assert torch.equal(a, b)


def test_trainer_ema_follows_G_and_is_used_for_samples():
    tr = make(ema=100.0)
    assert tr.G_sample is tr.G_ema and tr.G_ema is not tr.G
    before = copy.deepcopy(tr.G_ema.state_dict())
    stats = tr.step(real_for(mlp_pair))
    beta = 0.5 ** (8 / 100.0)
    assert stats["ema/beta"] == pytest.approx(beta, rel=1e-12)
    G_now = dict(tr.G.named_parameters())
    for name, p in tr.G_ema.named_parameters():
        torch.testing.assert_close(p, beta * before[name] + (1 - beta) * G_now[name].detach(),
                                   rtol=1e-12, atol=1e-14)


def test_presets_set_their_values_and_user_settings_win():
    cfg = build_config(None, ["preset=wgan-gp"])
    assert (cfg.loss, cfg.d_steps, cfg.reg.gp, cfg.lr_D) == ("wasserstein", 5, 10.0, 1e-4)
    assert tuple(cfg.optim_D.betas) == (0.0, 0.9)
    cfg = build_config({"preset": "wgan-gp", "lr_D": 3e-4}, ["reg.gp=5"])
    assert (cfg.lr_D, cfg.reg.gp, cfg.d_steps) == (3e-4, 5.0, 5)
    with pytest.raises(UserError, match="did you mean 'wgan-gp'"):
        build_config(None, ["preset=wgan_gp"])


def test_spectral_norm_from_config_gives_unit_singular_values():
    from ganforge.run import build_run
    cfg = build_config(None, ["preset=sngan", "data=ring8", "model=mlp", "d_steps=1",
                              "batch_size=64"])
    run = build_run(cfg)
    run.trainer.fit(run.batches, 30)
    D = run.trainer.D
    weights = [m.weight for m in D.modules() if hasattr(m, "parametrizations")]
    assert weights
    with torch.no_grad():
        for w in weights:
            sigma = torch.linalg.matrix_norm(w.flatten(1), 2)
            assert abs(float(sigma) - 1) < 0.05, float(sigma)


def test_update_ratio_is_logged_every_diag_every_updates_and_equals_its_formula():
    tr = make()
    tr.players.diag_every = 2
    real = real_for(mlp_pair)
    ratios = []
    for _ in range(4):
        before = [t.detach().clone() for t in tr.D.parameters()]
        stats = tr.step(real)
        ratios.append(stats.get("diag/update_ratio_D"))
        if ratios[-1] is not None:
            delta = torch.cat([(t.detach() - b).flatten() for t, b in zip(tr.D.parameters(), before)])
            size = torch.cat([b.flatten() for b in before])
            assert ratios[-1] == pytest.approx(float(delta.norm() / size.norm()), rel=1e-6)
    assert [r is not None for r in ratios] == [True, False, True, False]


def test_an_infinite_gradient_stops_before_the_optimizer_step():
    from ganforge.errors import NonFiniteLossError
    tr = make()
    first = next(tr.D.parameters())
    first.register_hook(lambda g: g * float("inf"))
    before = [t.detach().clone() for t in tr.D.parameters()]
    with pytest.raises(NonFiniteLossError, match="gradient norm of D became inf at step 1"):
        tr.step(real_for(mlp_pair))
    assert all(torch.equal(t, b) for t, b in zip(tr.D.parameters(), before))
