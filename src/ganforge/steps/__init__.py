"""Update steps: the ONLY code that calls backward(), zero_grad() and optimizer.step().

A schedule describes one training iteration as data, a list of :class:`Phase` records
(``phase.py``); :func:`run_phases` runs them and ``plan.py`` prints them, so the plan and the
step come from one source. Every network update goes backward -> clip -> step -> constrain
through :func:`apply_update` (``update.py``).

- :class:`Alternating` (``alternating.py``): Goodfellow et al. 2014, Algorithm 1 — ``d_steps``
  D updates, then ``g_steps`` G updates, each G step through the *updated* D.
- :class:`OneStep` (``onestep.py``): simultaneous updates — both networks' gradients taken at
  the same parameters, then both optimizers step (the stop-gradient trick, and a fused
  implementation that gives the same gradients with less work).
"""

from .alternating import Alternating, d_update, g_update
from .onestep import OneStep, onestep_fused, onestep_stopgrad
from .phase import Isolation, Iteration, Part, Phase, Stats, run_phases
from .update import apply_update

# The schedules by the names the config and ``Trainer(schedule="...")`` use.
SCHEDULES = {"alternating": Alternating, "onestep": OneStep}

__all__ = ["SCHEDULES", "Alternating", "OneStep", "Isolation", "Iteration", "Part", "Phase",
           "Stats", "apply_update", "d_update", "g_update", "onestep_fused", "onestep_stopgrad",
           "run_phases"]
