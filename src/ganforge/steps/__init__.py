"""Update strategies: the ONLY code that calls backward(), zero_grad() and optimizer.step().

A strategy turns one training iteration into parameter updates. It describes itself as data
(a list of :class:`Phase` records) so that the training plan is read off the same objects the
step uses, and its ``step(players, next_real)`` method runs the phases.

- :class:`Alternating` (``alternating.py``): Goodfellow et al. 2014, Algorithm 1 — ``d_steps``
  D updates, then ``g_steps`` G updates, each G step through the *updated* D.
- :class:`OneStep` (``onestep.py``): simultaneous updates — both networks' gradients taken at
  the same parameters, then both optimizers step (the stop-gradient trick of seed 001, and a
  fused implementation that gives the same gradients with less work).
"""

from .alternating import Alternating, d_update, g_update
from .onestep import OneStep, onestep_fused, onestep_stopgrad
from .phase import Phase, Stats, real_feeder

# The schedules by the names the config and ``Trainer(schedule="...")`` use.
SCHEDULES = {"alternating": Alternating, "onestep": OneStep}

__all__ = ["SCHEDULES", "Alternating", "OneStep", "Phase", "Stats", "d_update", "g_update",
           "onestep_fused", "onestep_stopgrad", "real_feeder"]
