"""Step semantics of the alternating schedule, checked exactly.

A D update must leave G (parameters, opt_G state) bitwise untouched; a G update must leave D
(parameters, .grad, opt_D state, requires_grad flags) bitwise untouched, with no gradient ever
computed for D's weights; the G update must equal a hand-written reference for every loss.
"""

import copy

import pytest
import torch

from conftest import assert_same, assert_same_state, dcgan_pair, mlp_pair, opt_state, snapshot
from ganforge import Alternating, Trainer
from ganforge.errors import NonFiniteLossError, UserError
from ganforge.losses import LOSSES
from ganforge.steps import d_update, g_update


def make_trainer(pair=mlp_pair, loss="nonsaturating", sgd_G=False, dtype=torch.float32,
                 d_steps=1, g_steps=1):
    G, D = (net.to(dtype) for net in pair())
    opt_G = (torch.optim.SGD(G.parameters(), lr=0.1, momentum=0.9) if sgd_G else
             torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999)))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    return Trainer(G, D, opt_G, opt_D, loss=loss, seed=0, device="cpu",
                   schedule=Alternating(d_steps, g_steps))


def real_batch(pair=mlp_pair, n=8, dtype=torch.float32):
    x = torch.randn(n, 2) if pair is mlp_pair else torch.rand(n, 1, 28, 28) * 2 - 1
    return x.to(dtype)


@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_d_update_leaves_G_and_opt_G_untouched(pair):
    tr = make_trainer(pair)
    tr.step(real_batch(pair))  # give opt_G some state first
    G_params = {k: v.clone() for k, v in tr.G.named_parameters()}
    G_grads = {k: v.grad.clone() for k, v in tr.G.named_parameters()}
    opt_G_before = opt_state(tr.opt_G)
    D_before = snapshot(tr.D)
    d_update(tr.players, real_batch(pair))
    for k, v in tr.G.named_parameters():
        assert torch.equal(v, G_params[k]) and torch.equal(v.grad, G_grads[k]), k
    assert_same_state(opt_state(tr.opt_G), opt_G_before)
    assert any(not torch.equal(a, b) for a, b in zip(snapshot(tr.D).values(),
                                                     D_before.values()))
    assert all(p.requires_grad for p in tr.G.parameters())


@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_g_update_leaves_D_untouched_and_computes_no_D_gradient(pair):
    tr = make_trainer(pair)
    tr.step(real_batch(pair))  # D has .grad and Adam state now
    D_before = snapshot(tr.D)
    D_grads = [p.grad.clone() for p in tr.D.parameters()]
    opt_D_before = opt_state(tr.opt_D)
    G_before = snapshot(tr.G)
    flags_seen = []
    hook = tr.D.register_forward_pre_hook(
        lambda m, args: flags_seen.append([p.requires_grad for p in m.parameters()]))
    try:
        g_update(tr.players, 8)
    finally:
        hook.remove()
    assert flags_seen and not any(any(f) for f in flags_seen)   # frozen while G learned
    assert all(p.requires_grad for p in tr.D.parameters())       # and restored after
    assert_same(snapshot(tr.D), D_before)
    for p, g in zip(tr.D.parameters(), D_grads):
        assert torch.equal(p.grad, g)
    assert_same_state(opt_state(tr.opt_D), opt_D_before)
    assert any(not torch.equal(a, b) for a, b in zip(snapshot(tr.G).values(),
                                                     G_before.values()))


def test_no_D_gradient_accumulates_in_the_G_phase():
    tr = make_trainer()
    for p in tr.D.parameters():
        p.grad = None
    g_update(tr.players, 8)
    assert all(p.grad is None for p in tr.D.parameters())


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("pair", [mlp_pair, dcgan_pair])
def test_g_update_equals_hand_written_reference(loss, pair):
    # SGD with momentum: the update is linear in the gradient, so a tight tolerance on the
    # parameters is a tight tolerance on the gradient (Adam would amplify rounding where a
    # gradient is ~0). Float64: BatchNorm's backward cancels most of a near-constant gradient,
    # which leaves float32 rounding visible at 1e-5 relative.
    tr = make_trainer(pair, loss=loss, sgd_G=True, dtype=torch.float64)
    tr.step(real_batch(pair, dtype=torch.float64))
    G_ref, D_ref = copy.deepcopy(tr.G), copy.deepcopy(tr.D)
    opt_ref = torch.optim.SGD(G_ref.parameters(), lr=0.1, momentum=0.9)
    opt_ref.load_state_dict(copy.deepcopy(tr.opt_G.state_dict()))  # load shares tensors
    z_state = tr.players.z_generator.get_state()

    g_update(tr.players, 8)

    # The reference: same z, the textbook G step with D's parameters left trainable.
    z = torch.randn(8, *tr.players.z_shape, generator=torch.Generator().set_state(z_state))
    z = z.double()
    logits = D_ref(G_ref(z))
    want = {"saturating": lambda x: torch.log(1 - torch.sigmoid(x)),
            "nonsaturating": lambda x: -torch.log(torch.sigmoid(x)),
            "hinge": lambda x: -x, "wasserstein": lambda x: -x,
            "least_squares": lambda x: 0.5 * (x - 1) ** 2}[loss]
    opt_ref.zero_grad()
    want(logits).mean().backward()
    opt_ref.step()
    for (k, a), b in zip(tr.G.named_parameters(), G_ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12,
                                   msg=lambda m, k=k: f"{k}: {m}")
    for a, b in zip(tr.G.buffers(), G_ref.buffers()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("d_steps,g_steps", [(1, 1), (5, 1), (1, 10), (2, 3)])
def test_update_counts_are_exact(d_steps, g_steps):
    tr = make_trainer(d_steps=d_steps, g_steps=g_steps)
    calls = {"G": 0, "D": 0}
    for key, opt in (("G", tr.opt_G), ("D", tr.opt_D)):
        opt.register_step_post_hook(lambda *a, key=key: calls.__setitem__(key, calls[key] + 1))
    batches = iter([torch.randn(8, 2) for _ in range(3 * d_steps)])
    for _ in range(3):
        tr.step(batches)
    assert calls == {"D": 3 * d_steps, "G": 3 * g_steps}
    assert int(tr.opt_D.state[tr.opt_D.param_groups[0]["params"][0]]["step"]) == 3 * d_steps
    assert tr.images_seen == 3 * d_steps * 8 and tr.step_count == 3


def test_each_d_step_takes_a_fresh_real_batch():
    tr = make_trainer(d_steps=3)
    seen = []
    hook = tr.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    batches = [torch.full((8, 2), float(i)) for i in range(3)]
    tr.step(batches)
    hook.remove()
    reals = [x for x in seen if x.eq(x[0, 0]).all() and float(x[0, 0]) in (0.0, 1.0, 2.0)]
    assert [float(x[0, 0]) for x in reals] == [0.0, 1.0, 2.0]


def test_too_few_batches_for_d_steps_is_a_clear_error():
    tr = make_trainer(d_steps=2)
    with pytest.raises(UserError, match="one real batch per D step"):
        tr.step(torch.randn(8, 2))


def test_non_finite_loss_stops_before_the_optimizer_step():
    tr = make_trainer()
    tr.step(torch.randn(8, 2))
    before = snapshot(tr.D)
    with pytest.raises(NonFiniteLossError, match=r"loss/D became nan at step 2"):
        tr.step(torch.full((8, 2), float("nan")))
    assert_same(snapshot(tr.D), before)


@pytest.mark.parametrize("bad", ["d_steps", "g_steps"])
def test_bad_step_counts(bad):
    with pytest.raises(UserError, match=bad):
        make_trainer(**{bad: 0})
