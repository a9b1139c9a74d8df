"""The one error type for user mistakes.

Anything a user can fix (a bad config value, data in the wrong range, a resume directory from
another model) raises :class:`UserError` with a message that names the problem and the fix.
The CLI prints the message on one line and exits with status 2, without a traceback.
"""

import difflib


def nearest(word, choices) -> str:
    """' (did you mean X?)' for the closest of ``choices``, or '' when nothing is close."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


class UserError(Exception):
    """A mistake the user can fix; ``str(err)`` says what is wrong and how to fix it."""


class NonFiniteLossError(UserError):
    """A loss or a gradient (or, at checkpoint time, a parameter) became NaN or inf.

    A non-finite loss or gradient norm is caught before its optimizer step; a checkpoint is never written from
    non-finite parameters. Either way the last checkpoint on disk is a good one.
    """

    def __init__(self, name: str, value: float, step: int | None = None, kind: str = "loss",
                 last=None, caught_at: int | None = None):
        self.name, self.value, self.step, self.kind, self.last = name, value, step, kind, last
        self.caught_at = caught_at   # the later step where a deferred check saw it
        super().__init__(self._message())

    def at_step(self, step: int) -> "NonFiniteLossError":
        """The same error, now saying at which step it happened."""
        self.step = step
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        at = f" at step {self.step}" if self.step is not None else ""
        if self.caught_at is not None and self.caught_at != self.step:
            what = (f"training stopped at the check of step {self.caught_at}, before any log "
                    "row or checkpoint was written from it")
        elif self.kind in ("loss", "gradient"):
            what = "training stopped before the optimizer step"
        else:
            what = "no checkpoint was written from it"
        last = f" ({self.last})" if self.last else ""
        return (
            f"{self.name} became {self.value}{at}; {what}, so the last checkpoint{last} is "
            "intact. Try a lower learning rate (lr_G=, lr_D=), another loss, or precision=fp32."
        )
