"""A short ring8 training that really learns: modes covered grows from none to most of the ring.

Why several seeds. A seeded GAN run is bit-for-bit reproducible on one build, but another CPU or
BLAS rounds differently and the trajectory diverges: one seed's coverage is not a stable
quantity (the former single-run test covered >= 6 modes on an Intel Sapphire Rapids CPU and 2
on an AMD EPYC). So this test asserts a property of the method, not of one trajectory: a recipe
whose coverage is not seed-sensitive, trained on a few seeds, with a bound on the median and a
looser one on the worst seed.

The recipe is TTUR (``preset=ttur``: non-saturating loss, Adam lr_G 1e-4, lr_D 4e-4, betas
(0, 0.9)) on an MLP G and D of width 64, z_dim 2, batch 256, 500 iterations. Measured on the
2-core AMD EPYC, 60 trajectories: seeds 0-23 with 2 threads, and, to emulate another build,
seeds 0-11 with 1 thread, seeds 0-11 with the initial weights perturbed by 1e-6 (relative) and
seeds 12-23 with both. Every one covered 7 or 8 of the 8 modes (8 in 53 of 60), reverse KL at
most 0.48. The bounds below (median >= 7, worst >= 6, median reverse KL < 0.6) hold with a
margin on every trajectory seen. The Adam 1e-3 recipe of the old test is seed-sensitive at this
budget (2 to 7 modes, once 0, over seeds 0-11): too fast to put samples within 3 std of the
modes, which is why it is not used here.
"""

import statistics

import torch

from ganforge import Trainer
from ganforge.data import load_dataset
from ganforge.metrics import mixture_modes
from ganforge.nets import build_nets
from ganforge.sampling import generate

SEEDS = (0, 1, 2)
STEPS = 500


def _ring8_run(seed: int) -> tuple[dict, dict]:
    """PacGAN numbers (2,500 samples) of G before and after one seeded TTUR run on ring8."""
    torch.manual_seed(seed)   # network init is part of the seeded run
    data = load_dataset("ring8", seed=seed)
    G, D = build_nets("mlp", (2,), z_dim=2, width=64)
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_D = torch.optim.Adam(D.parameters(), lr=4e-4, betas=(0.0, 0.9))
    trainer = Trainer(G, D, opt_G, opt_D, loss="nonsaturating", seed=seed)
    z = torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))   # PacGAN: 2,500
    before = mixture_modes(generate(G, z), "ring8")
    trainer.fit(data.x, steps=STEPS, batch_size=256)
    return before, mixture_modes(generate(G, z), "ring8")


def test_ring8_learns_to_cover_the_modes():
    # One thread, not conftest's two: 64-wide layers gain nothing from a second, and on a busy
    # machine OpenMP's spinning threads made this test take 164 s and 470 s instead of 18 s.
    # The bounds hold with either (see the module docstring).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = {seed: _ring8_run(seed) for seed in SEEDS}
    finally:
        torch.set_num_threads(threads)
    after = {seed: a for seed, (_, a) in runs.items()}
    assert all(before["modes"] == 0 for before, _ in runs.values()), runs
    modes = [a["modes"] for a in after.values()]
    # Most of the ring (8 modes is the maximum) for the typical seed, and no seed collapses.
    assert statistics.median(modes) >= 7, after
    assert min(modes) >= 6, after
    assert statistics.median(a["reverse_kl"] for a in after.values()) < 0.6, after


def test_conditional_ring8_puts_each_class_on_its_mode():
    """Class-conditional (concat) on ring8, where the label is the mode: after 500 TTUR
    iterations G(z, c) lands nearest mode c. Measured on the 2-core AMD EPYC, seeds 0-3, one
    thread: 7-28% before (chance 12.5%), 100% after on every seed; the bound leaves room for
    another CPU's trajectory."""
    from ganforge.data.mixtures import ring8_modes
    from ganforge.sampling import balanced_labels

    for seed in SEEDS:
        torch.manual_seed(seed)
        data = load_dataset("ring8", seed=seed)
        G, D = build_nets("mlp", (2,), z_dim=2, width=64, num_classes=8, conditioning="concat")
        opt_G = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9))
        opt_D = torch.optim.Adam(D.parameters(), lr=4e-4, betas=(0.0, 0.9))
        trainer = Trainer(G, D, opt_G, opt_D, seed=seed, device="cpu")
        z = torch.randn(800, 2, generator=torch.Generator().manual_seed(99))
        y = balanced_labels(800, 8)

        def on_its_mode() -> float:
            x = generate(trainer.G, z, labels=y)
            return float((torch.cdist(x, ring8_modes()).argmin(1) == y).float().mean())

        before = on_its_mode()
        trainer.fit(data, steps=STEPS, batch_size=256, progress=False)
        after = on_its_mode()
        assert before < 0.4, (seed, before)
        assert after >= 0.9, (seed, before, after)
