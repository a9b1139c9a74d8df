"""ganforge: train GANs correctly, fast, and with the diagnosis built in.

The pieces work with or without the Trainer:

    from ganforge import Trainer, frozen, losses
    trainer = Trainer(G, D, opt_G=opt_G, opt_D=opt_D, loss="hinge")
    trainer.fit(images, steps=1000)

Names are imported on first use (``_lazy.py``), so ``import ganforge`` and the command line's
argument checks do not wait for torch.
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Trainer": ".trainer", "RunDir": ".run_directory", "Alternating": ".steps",
    "OneStep": ".steps", "Phase": ".steps",
    "d_update": ".steps", "g_update": ".steps", "Players": ".players", "frozen": ".freeze",
    "freeze": ".freeze", "LOSSES": ".losses", "Loss": ".losses", "get_loss": ".losses",
    "UserError": ".errors", "NonFiniteLossError": ".errors", "losses": ".losses",
    "evaluate_trainer": ".evaluate", "sample_grid": ".images", "balance": ".doctor.balance",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = [*_EXPORTS, "__version__"]
