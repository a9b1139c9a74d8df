"""The cases a 2-process run must match a 1-process run on (tests/test_distributed.py):
float64 MLPs without BatchNorm (a sample's gradient then does not depend on its batch), each
a feature the gradient synchronization must get right."""

import torch

from ganforge import Alternating, OneStep, Trainer
from ganforge.objective import Objective
from ganforge.regularizers import build_penalties
from ganforge.nets import MLPDiscriminator, MLPGenerator

STEPS = 8
CASES = {
    "alternating": {},
    "d_steps2": {"schedule": Alternating(d_steps=2)},
    "onestep_zero_sum": {"schedule": OneStep(), "loss": "wasserstein"},
    "onestep_general": {"schedule": OneStep()},
    "gp_lazy": {"loss": "wasserstein", "penalties": {"gp": 10.0, "interval": 2},
                "schedule": Alternating(d_steps=2)},
    "ema": {"ema": 200.0},
    "nonfinite_on_rank1": {},
    # Class-conditional: labels sharded with their rows, the fake labels of the global batch,
    # the AC-GAN class loss in both networks' gradients, R1 at the real labels.
    "conditional_acgan": {"schedule": OneStep(), "penalties": {"r1": 1.0}},
}
CONDITIONAL = {"conditional_acgan": "acgan"}


def data(name: str):
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(256, 2, generator=gen, dtype=torch.float64)
    return (x, torch.randint(4, (256,), generator=gen)) if name in CONDITIONAL else x


class NaNOnRank(torch.nn.Module):
    """D that returns NaN on one rank from step ``at`` on (a loss that blows up on one
    process only)."""

    def __init__(self, D, rank: int, bad_rank: int, at: int):
        super().__init__()
        self.D, self.calls, self.bad = D, 0, rank == bad_rank
        self.at = at

    def forward(self, x):
        self.calls += 1
        out = self.D(x)
        return out * float("nan") if self.bad and self.calls >= self.at else out


def build(name: str, rank: int = 0):
    """(trainer, steps) of a case; ``rank``: this process's rank (for the NaN case)."""
    case = dict(CASES[name])
    torch.manual_seed(0)
    labels = ({"num_classes": 4, "conditioning": CONDITIONAL[name]} if name in CONDITIONAL
              else {})
    G = MLPGenerator(2, 2, hidden=16, depth=2, batchnorm=False, **labels).double()
    D = MLPDiscriminator(2, hidden=16, depth=2, **labels).double()
    if name == "nonfinite_on_rank1":
        D = NaNOnRank(D, rank, bad_rank=1, at=2 * 3 + 1)   # two D calls per D step
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    penalties = case.pop("penalties", None)
    objective = Objective(penalties=build_penalties(**penalties) if penalties else [], seed=3)
    trainer = Trainer(G, D, opt_G, opt_D, seed=0, device="cpu", objective=objective,
                      z_dim=2, **case)
    return trainer, STEPS


# Resume across process counts (float64): RESUME_AT steps in one world, the rest in the other.
RESUME_AT = 4
