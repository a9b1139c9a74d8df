"""``compile=true``: G and D through torch.compile train like the eager modules.

Compiled kernels may sum in another order, so the weights after 5 steps agree to rounding:
measured at most 3e-7 (weights of order 0.1-1), checked at 1e-5, for both schedules and a
gradient penalty (whose double backward runs the compiled D eagerly). The checkpoint keys are
the plain modules' (``nn.Module.compile`` works in place)."""

import pytest
import torch

from conftest import mlp_pair
from ganforge import Alternating, OneStep, Trainer
from ganforge.objective import Objective
from ganforge.regularizers import build_penalties

CASES = {
    "alternating": lambda: {},
    "onestep": lambda: {"schedule": OneStep()},
    "gp": lambda: {"loss": "wasserstein", "schedule": Alternating(d_steps=2),
                   "objective": Objective(penalties=build_penalties(gp=10.0), seed=1)},
}


def run(compile: bool, case: str) -> dict:
    torch.manual_seed(0)
    G, D = mlp_pair()
    trainer = Trainer(G, D, seed=0, device="cpu", compile=compile, **CASES[case]())
    trainer.fit(torch.randn(256, 2, generator=torch.Generator().manual_seed(3)), steps=5,
                batch_size=32)
    return trainer.state_dict()


@pytest.mark.parametrize("case", list(CASES))
def test_a_compiled_run_matches_the_eager_run(case):
    eager, compiled = run(False, case), run(True, case)
    for net in ("G", "D"):
        assert eager[net].keys() == compiled[net].keys()
        for k in eager[net]:
            torch.testing.assert_close(compiled[net][k], eager[net][k], rtol=0, atol=1e-5)
