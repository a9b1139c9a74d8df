"""The doctor: signals -> detectors -> findings -> report, live and after the fact.

- ``signals``: pure functions over logits, gradients, parameters and samples (``diag/...``).
- ``detectors``: each looks at a window of logged stat rows and returns a Finding or None.
- ``findings``: the Finding (what was seen, likely causes, remedies as ganforge settings).
- ``watch``: the sliding window and the "report each finding once" rule.
- ``callback``: :class:`Doctor` and :class:`DiversityProbe`, the live side.
- ``report``: ``ganforge doctor RUN_DIR``.
- ``balance``: the rebalancing controllers (``balance: auto``), pure logic with state.

See docs/doctor.md. Names are imported on first use (see ``ganforge/_lazy.py``).
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "AdaController": ".balance", "Decision": ".balance", "RatioController": ".balance",
    "SmoothingController": ".balance", "Balancer": ".balance", "balance": ".balance", "DiversityProbe": ".callback", "Doctor": ".callback",
    "Context": ".detectors", "DiscriminatorCollapse": ".detectors",
    "DiscriminatorOverpowering": ".detectors", "Divergence": ".detectors",
    "ModeCollapse": ".detectors", "Stagnation": ".detectors",
    "default_detectors": ".detectors", "Finding": ".findings", "Remedy": ".findings",
    "diagnose": ".report", "render_report": ".report", "Watch": ".watch",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
