"""The doctor: signals -> detectors -> findings -> report, live and after the fact.

- ``signals``: pure functions over logits, gradients, parameters and samples (``diag/...``).
- ``detectors``: each looks at a window of logged stat rows and returns a Finding or None.
- ``findings``: the Finding (what was seen, likely causes, remedies as ganforge settings).
- ``watch``: the sliding window and the "report each finding once" rule.
- ``callback``: :class:`Doctor` and :class:`DiversityProbe`, the live side.
- ``report``: ``ganforge doctor RUN_DIR``.
- ``balance``: the rebalancing controllers (``balance: auto``), pure logic with state.

See docs/doctor.md.
"""

from .balance import AdaController, Decision, RatioController, SmoothingController
from .callback import DiversityProbe, Doctor
from .detectors import (Context, DiscriminatorCollapse, DiscriminatorOverpowering, Divergence,
                        ModeCollapse, Stagnation, default_detectors)
from .findings import Finding, Remedy
from .report import diagnose, render_report
from .watch import Watch

__all__ = [
    "AdaController", "SmoothingController", "RatioController", "Decision", "Doctor",
    "DiversityProbe", "Context", "DiscriminatorOverpowering", "DiscriminatorCollapse",
    "ModeCollapse", "Divergence", "Stagnation", "default_detectors", "Finding", "Remedy",
    "Watch", "diagnose", "render_report",
]
