"""ganforge: train GANs correctly, fast, and with the diagnosis built in.

The pieces work with or without the Trainer:

    from ganforge import Trainer, frozen, losses
    trainer = Trainer(G, D, opt_G=opt_G, opt_D=opt_D, loss="hinge")
    trainer.fit(images, steps=1000)
"""

__version__ = "0.1.0"

from . import losses  # noqa: E402
from .errors import NonFiniteLossError, UserError  # noqa: E402
from .freeze import freeze, frozen  # noqa: E402
from .losses import LOSSES, Loss, get_loss  # noqa: E402
from .players import Players  # noqa: E402
from .steps import Alternating, OneStep, Phase, d_update, g_update  # noqa: E402
from .trainer import Trainer  # noqa: E402

__all__ = [
    "Trainer", "Alternating", "OneStep", "Phase", "Players", "d_update", "g_update", "frozen", "freeze",
    "losses", "LOSSES", "Loss", "get_loss", "UserError", "NonFiniteLossError", "__version__",
]
