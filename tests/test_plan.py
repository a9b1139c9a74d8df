"""The training plan is read off the live objects (docs/problems.md, problem 1)."""

import torch

from conftest import mlp_pair
from ganforge import Alternating, Trainer


def test_plan_names_each_networks_optimizer_and_learning_rate():
    G, D = mlp_pair()
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_D = torch.optim.RMSprop(D.parameters(), lr=5e-5)
    plan = Trainer(G, D, opt_G, opt_D, loss="hinge", schedule=Alternating(d_steps=5)).plan()
    d, g = plan.phases
    assert (d.name, d.repeat, g.name, g.repeat) == ("D", 5, "G", 1)
    assert d.optimizer.startswith("opt_D = RMSprop(lr=5e-05")
    assert g.optimizer.startswith("opt_G = Adam(lr=0.0001, betas=(0.0, 0.9)")
    n_G = sum(p.numel() for p in G.parameters())
    n_D = sum(p.numel() for p in D.parameters())
    assert g.trains == f"G: {len(list(G.parameters()))} tensors, {n_G:,} parameters"
    assert d.trains == f"D: {len(list(D.parameters()))} tensors, {n_D:,} parameters"
    assert d.grads_in_frozen == g.grads_in_frozen == 0
    assert "max(0, 1 - D(x))" in d.loss and g.loss.endswith("-D(G(z))")
    text = plan.format()
    assert "No other optimizer exists" in text and "opt_D does not step" in text


def test_plan_follows_the_live_learning_rate():
    G, D = mlp_pair()
    tr = Trainer(G, D)
    tr.opt_D.param_groups[0]["lr"] = 7e-5
    assert "lr=7e-05" in tr.plan().phases[0].optimizer


def test_plan_reports_an_optimizer_that_no_longer_covers_its_network():
    G, D = mlp_pair()
    tr = Trainer(G, D)
    G.extra = torch.nn.Parameter(torch.zeros(3))  # added after opt_G was built
    covers = tr.plan().phases[1].optimizer_covers
    assert covers == "BUT 1 trainable tensors of G are in no optimizer and never change"
