"""The names of ganforge's networks, conditioning methods and initialisations, and their
check: what the config needs, without torch (``nets/__init__.py`` and the nets import them
from here)."""

from __future__ import annotations

from ganforge.errors import UserError, nearest

NET_NAMES = ("mlp", "dcgan", "resnet")
CONDITIONINGS = ("none", "concat", "acgan", "projection")
INITS = ("paper", "torch")   # nets/init.py


def check_conditioning(conditioning: str, num_classes: int | None, model: str,
                       supported: tuple[str, ...] = CONDITIONINGS) -> int | None:
    """Validate a (conditioning, num_classes) pair for ``model``; returns the net's num_classes.

    None for conditioning="none" (whatever ``num_classes`` says: the labels are then unused),
    else ``num_classes``, which must be an int >= 2. Needs no torch.
    """
    if conditioning not in CONDITIONINGS:
        raise UserError(f"conditioning={conditioning!r} is not a conditioning method; use one "
                        f"of {', '.join(CONDITIONINGS)}{nearest(conditioning, CONDITIONINGS)}")
    if conditioning == "none":
        return None
    if conditioning not in supported:
        others = [c for c in supported if c != "none"]
        raise UserError(f"conditioning={conditioning!r} is not available with model={model}; "
                        f"use conditioning={' or '.join(others)}, or a model that has it "
                        "(projection: model=dcgan or model=resnet)")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise UserError(f"conditioning={conditioning!r} needs num_classes >= 2, the number of "
                        f"classes in the labels; got num_classes={num_classes!r}")
    return num_classes
