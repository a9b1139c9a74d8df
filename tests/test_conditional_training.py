"""Class-conditional training: labels through both schedules, exact one-step gradients with a
label path (concat-style, projection-style and AC-GAN discriminators), penalties taken with the
label held fixed, the fake-label stream, exact resume, and the errors of the protocol."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge import Trainer
from ganforge.conditioning import Conditioning
from ganforge.errors import UserError
from ganforge.freeze import frozen
from ganforge.losses import get_loss
from ganforge.objective import Objective
from ganforge.regularizers import build_penalties, r1, r2
from ganforge.steps import Alternating, OneStep, onestep_fused, onestep_stopgrad
from ganforge.streams import Sharded

K = 3


class CondG(nn.Module):
    """z (N, 4) and y -> (N, 2): a label embedding concatenated to z."""

    def __init__(self):
        super().__init__()
        self.z_dim, self.num_classes = 4, K
        self.embed = nn.Embedding(K, 3)
        self.net = nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 2))

    def forward(self, z, y):
        return self.net(torch.cat([z, self.embed(y)], 1))


class CondD(nn.Module):
    """x (N, 2) and y -> logits: ``mode`` "concat" (y at the input), "projection" (an inner
    product of a class embedding with the features) or "acgan" (a class head, y ignored)."""

    def __init__(self, mode="concat"):
        super().__init__()
        self.mode, self.conditioning = mode, mode
        if mode != "acgan":
            self.label_embed = nn.Embedding(K, 3 if mode == "concat" else 16)
        self.body = nn.Sequential(nn.Linear(5 if mode == "concat" else 2, 16), nn.Tanh())
        self.head = nn.Linear(16, 1)
        if mode == "acgan":
            self.class_head = nn.Linear(16, K)

    def features(self, x, y=None):
        if self.mode == "concat":
            x = torch.cat([x, self.label_embed(y)], 1)
        return self.body(x)

    def forward(self, x, y=None):
        h = self.features(x, y)
        out = self.head(h).flatten()
        if self.mode == "projection":
            return out + (self.label_embed(y) * h).sum(1)
        if self.mode == "acgan":
            return out, self.class_head(h)
        return out


def make(mode="concat", loss="nonsaturating", dtype=torch.float64, **kw):
    torch.manual_seed(0)
    G, D = CondG().to(dtype), CondD(mode).to(dtype)
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3)
    opt_D = torch.optim.Adam(D.parameters(), lr=4e-3)
    return Trainer(G, D, opt_G, opt_D, loss=loss, seed=0, device="cpu", num_classes=K, **kw)


def batch(n=8, dtype=torch.float64):
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 2, generator=gen, dtype=dtype), torch.randint(K, (n,), generator=gen)


def reference_grads(G, D, loss, real, real_y, z, fake_y, acgan_weight=1.0, penalty=None,
                    d_fake=True):
    """The definition at one point: D's gradient of its loss (G(z, y) detached, AC-GAN class
    loss on real and fake, or on real only without ``d_fake``, ``penalty(D, real, real_y,
    fake, fake_y)``), and G's gradient of
    its loss through a frozen D (plus the class loss on its samples)."""
    G, D = copy.deepcopy(G), copy.deepcopy(D)

    def out(x, y):
        o = D(x, y)
        return o if isinstance(o, tuple) else (o, None)

    fake = G(z, fake_y)
    (rl, rc), (fl, fc) = out(real, real_y), out(fake.detach(), fake_y)
    loss_D = loss.d_loss(rl, fl)
    if rc is not None:
        ce_fake = F.cross_entropy(fc, fake_y) if d_fake else 0.0
        loss_D = loss_D + acgan_weight * (F.cross_entropy(rc, real_y) + ce_fake)
    if penalty is not None:
        loss_D = loss_D + penalty(D, real, real_y, fake.detach(), fake_y)
    g_D = torch.autograd.grad(loss_D, list(D.parameters()))
    with frozen(D):
        gl, gc = out(fake, fake_y)
        loss_G = loss.g_loss(gl)
        if gc is not None:
            loss_G = loss_G + acgan_weight * F.cross_entropy(gc, fake_y)
        g_G = torch.autograd.grad(loss_G, list(G.parameters()))
    return g_D, g_G


def flat(grads):
    return torch.cat([g.flatten() for g in grads])


def step_grads(tr, impl, real, real_y):
    """One update of ``impl``: its gradients and the definition's at the same point (same z,
    same fake labels)."""
    p = tr.players
    z_state, y_state = p.z_generator.get_state(), p.cond.generator.get_state()
    G0, D0 = copy.deepcopy(p.G), copy.deepcopy(p.D)
    impl(p, real, real_y)
    p.z_generator.set_state(z_state)
    p.cond.generator.set_state(y_state)
    z, fake_y = p.sample_z(real.shape[0]), p.sample_y(real.shape[0])
    return ([t.grad for t in p.D.parameters()], [t.grad for t in p.G.parameters()], G0, D0, z,
            fake_y)


@pytest.mark.parametrize("impl", [onestep_fused, onestep_stopgrad])
@pytest.mark.parametrize("mode", ["concat", "projection", "acgan"])
@pytest.mark.parametrize("loss", ["nonsaturating", "wasserstein", "hinge"])
def test_onestep_conditional_gradients_equal_the_definition(loss, mode, impl):
    tr = make(mode, loss)
    real, real_y = batch()
    got_D, got_G, G0, D0, z, fake_y = step_grads(tr, impl, real, real_y)
    want_D, want_G = reference_grads(G0, D0, get_loss(loss), real, real_y, z, fake_y)
    # The label path gets its gradient: the embeddings are part of each network's update.
    assert float(flat(got_G[:1]).abs().sum()) > 0
    torch.testing.assert_close(flat(got_D), flat(want_D), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(flat(got_G), flat(want_G), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["concat", "projection"])
def test_penalties_hold_the_label_fixed_in_both_schedules(mode):
    """R1 at the real labels and R2 at the fake ones: one-step's D gradient equals the
    definition with the penalties written out by hand."""
    pens = build_penalties(r1=2.0, r2=4.0)

    def by_hand(D, real, real_y, fake, fake_y):
        x = real.detach().requires_grad_(True)
        (g1,) = torch.autograd.grad(D(x, real_y).sum(), x, create_graph=True)
        xf = fake.detach().requires_grad_(True)
        (g2,) = torch.autograd.grad(D(xf, fake_y).sum(), xf, create_graph=True)
        return 1.0 * g1.square().sum(1).mean() + 2.0 * g2.square().sum(1).mean()

    tr = make(mode, objective=Objective(penalties=pens))
    real, real_y = batch()
    got_D, _, G0, D0, z, fake_y = step_grads(tr, onestep_fused, real, real_y)
    want_D, _ = reference_grads(G0, D0, get_loss("nonsaturating"), real, real_y, z, fake_y,
                                penalty=by_hand)
    torch.testing.assert_close(flat(got_D), flat(want_D), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d_fake", [True, False])
def test_alternating_conditional_d_step_equals_the_definition(d_fake):
    tr = make("acgan", schedule=Alternating(), acgan_weight=0.5, acgan_d_fake=d_fake)
    p = tr.players
    real, real_y = batch()
    z_state, y_state = p.z_generator.get_state(), p.cond.generator.get_state()
    G0, D0 = copy.deepcopy(p.G), copy.deepcopy(p.D)
    from ganforge.steps import d_update
    stats = d_update(p, real, real_y)
    p.z_generator.set_state(z_state)
    p.cond.generator.set_state(y_state)
    z, fake_y = p.sample_z(8), p.sample_y(8)
    want_D, _ = reference_grads(G0, D0, p.loss, real, real_y, z, fake_y, acgan_weight=0.5,
                                d_fake=d_fake)
    torch.testing.assert_close(flat([t.grad for t in p.D.parameters()]), flat(want_D),
                               rtol=1e-10, atol=1e-12)
    assert {"cls/D_real", "cls/D_fake"} <= set(stats)   # the fake CE is logged either way


@pytest.mark.parametrize("impl", [onestep_fused, onestep_stopgrad])
def test_onestep_acgan_real_only_class_head_equals_the_definition(impl):
    """acgan_d_fake=False: D's class head learns from real images only; G keeps its class
    loss on its samples."""
    tr = make("acgan", acgan_d_fake=False)
    real, real_y = batch()
    got_D, got_G, G0, D0, z, fake_y = step_grads(tr, impl, real, real_y)
    want_D, want_G = reference_grads(G0, D0, get_loss("nonsaturating"), real, real_y, z,
                                     fake_y, d_fake=False)
    torch.testing.assert_close(flat(got_D), flat(want_D), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(flat(got_G), flat(want_G), rtol=1e-10, atol=1e-12)
    # The definition with the fake CE differs: the switch changes D's gradient.
    with_fake, _ = reference_grads(G0, D0, get_loss("nonsaturating"), real, real_y, z, fake_y)
    assert not torch.allclose(flat(got_D), flat(with_fake))
    assert any("real only" in line for line in tr.players.cond.describe())


def test_reuse_fake_keeps_the_d_steps_labels_for_the_g_step():
    tr = make("acgan", schedule=Alternating(reuse_fake=True))
    seen = []
    tr.G.register_forward_hook(lambda m, args, out: seen.append(args[1].clone()))
    real, real_y = batch()
    tr.step(real, real_y)
    assert len(seen) == 1   # one G forward: the G step reused the D step's G(z, y)


def test_fake_labels_follow_the_data_or_are_uniform():
    cond = Conditioning(3, fake_labels="data", class_counts=torch.tensor([6, 3, 1]), seed=0)
    y = cond.sample(20_000, "cpu")
    freq = torch.bincount(y, minlength=3).double() / 20_000
    torch.testing.assert_close(freq, torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64),
                               atol=0.015, rtol=0)
    uniform = Conditioning(3, fake_labels="uniform", class_counts=torch.tensor([6, 3, 1]))
    freq = torch.bincount(uniform.sample(20_000, "cpu"), minlength=3).double() / 20_000
    torch.testing.assert_close(freq, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.015,
                               rtol=0)
    # Seeded, and not the z stream's numbers.
    again = Conditioning(3, fake_labels="data", class_counts=torch.tensor([6, 3, 1]), seed=0)
    assert torch.equal(again.sample(20_000, "cpu"), y)
    assert not torch.equal(Conditioning(3, seed=1).sample(64, "cpu"),
                           Conditioning(3, seed=0).sample(64, "cpu"))


def test_two_processes_draw_the_one_process_labels():
    one = Conditioning(4, class_counts=torch.tensor([1, 2, 3, 4]), seed=5)
    ranks = [Conditioning(4, class_counts=torch.tensor([1, 2, 3, 4]), seed=5) for _ in range(2)]
    for r, c in enumerate(ranks):
        c.set_world(r, 2)
    for _ in range(3):
        whole = one.sample(8, "cpu")
        assert torch.equal(torch.cat([c.sample(4, "cpu") for c in ranks]), whole)


def test_conditional_resume_is_exact(tmp_path):
    real, real_y = batch(64, torch.float32)

    def run(split):
        tr = make("projection", dtype=torch.float32, schedule=OneStep())
        data = (real, real_y)
        tr.fit(data, steps=split, batch_size=16, progress=False)
        if split < 12:
            path = tmp_path / "ck.pt"
            torch.save(tr.state_dict(), path)
            tr = make("projection", dtype=torch.float32, schedule=OneStep())
            tr.load_state_dict(torch.load(path, weights_only=False))
            tr.fit(data, steps=12 - split, batch_size=16, progress=False)
        return tr

    a, b = run(12), run(5)
    for x, y in zip([*a.G.state_dict().values(), *a.D.state_dict().values()],
                    [*b.G.state_dict().values(), *b.D.state_dict().values()]):
        assert torch.equal(x, y)
    assert a.players.cond.generator.get_state().equal(b.players.cond.generator.get_state())


def test_fit_draws_fake_labels_with_the_datas_class_frequencies():
    x = torch.randn(40, 2)
    y = torch.tensor([0] * 30 + [1] * 8 + [2] * 2)
    tr = make(dtype=torch.float32)
    tr.fit((x, y), steps=1, batch_size=8, progress=False)
    torch.testing.assert_close(tr.players.cond.cdf, torch.tensor([0.75, 0.95, 1.0]))


def test_protocol_errors_are_clear():
    real, real_y = batch()
    tr = make()
    with pytest.raises(UserError, match="every real batch needs its labels"):
        tr.step(real)
    with pytest.raises(UserError, match=r"in 0\.\.2"):
        tr.step(real, torch.full((8,), 3))
    with pytest.raises(UserError, match="integer class indices"):
        tr.step(real, real_y.double())
    with pytest.raises(UserError, match="data has no labels"):
        tr.fit(real, steps=1, batch_size=4, progress=False)
    with pytest.raises(UserError, match="set conditioning='acgan'"):
        make("acgan", conditioning="concat").fit((real, real_y), steps=1, batch_size=4,
                                                 progress=False)
    with pytest.raises(UserError, match="returns only logits"):
        make("concat", conditioning="acgan").fit((real, real_y), steps=1, batch_size=4,
                                                 progress=False)
    G, D = nn.Linear(4, 2), nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    plain = Trainer(G, D, z_dim=4, device="cpu", seed=0)
    with pytest.raises(UserError, match="unconditional Trainer"):
        plain.step(real.float(), real_y)


def test_plan_names_the_conditioning_and_its_parameters():
    text = make("acgan").plan().format()
    assert "class-conditional: 3 classes, conditioning acgan" in text
    assert "G's label parameters (acgan): 9 in embed" in text
    assert "D's label parameters (acgan): 51 in class_head" in text
    assert "AC-GAN class loss, weight 1" in text
    # The class loss is a G term: one-step cannot use the zero-sum single backward.
    text = make("acgan", schedule=OneStep()).plan().format()
    assert "zero-sum" not in text


def test_acgan_d_fake_reaches_the_trainer_from_the_config(tmp_path):
    from ganforge.config import build_config
    from ganforge.run import build_run
    cfg = build_config(None, ["data=ring8", "model=mlp", "model.conditioning=acgan",
                              "acgan_d_fake=false", f"run_dir={tmp_path / 'run'}"])
    cond = build_run(cfg).trainer.players.cond
    assert cond.method == "acgan" and cond.acgan_d_fake is False
    assert build_run(build_config(None, ["data=ring8", "model=mlp", "model.conditioning=acgan",
                                         f"run_dir={tmp_path / 'b'}"])
                     ).trainer.players.cond.acgan_d_fake is True
