"""A finding: one problem the doctor saw, in numbers and in plain words.

A finding says what was seen (with the numbers and the step range), the likely causes with
the most likely first, and the remedies as ganforge settings a user can type
(``lr_D=1e-4``). It is plain data: it goes to ``findings.jsonl`` as one JSON object and
comes back from it unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

SEVERITIES = ("info", "warning", "error")


@dataclass
class Remedy:
    """A setting to try (``setting``, exactly as typed on the command line) and why."""

    setting: str
    why: str = ""

    def render(self) -> str:
        return f"{self.setting}  ({self.why})" if self.why else self.setting


@dataclass
class Finding:
    """One problem over a step range.

    ``kind`` names the detector (``d_overpowering``, ``divergence``, ...); ``seen`` is a
    sentence with the numbers; ``causes`` are ordered most likely first; ``numbers`` holds
    the values behind ``seen`` for programs (TensorBoard, tests).
    """

    kind: str
    title: str
    first_step: int
    last_step: int
    seen: str
    causes: list[str] = field(default_factory=list)
    remedies: list[Remedy] = field(default_factory=list)
    severity: str = "warning"
    numbers: dict[str, float] = field(default_factory=dict)

    def steps(self) -> str:
        if self.first_step == self.last_step:
            return f"step {self.first_step}"
        return f"steps {self.first_step}-{self.last_step}"

    def render(self) -> str:
        """Plain-words text, a few lines; the settings to try are on lines of their own."""
        lines = [f"[{self.severity}] {self.title} ({self.steps()})",
                 f"  seen: {self.seen}"]
        if self.causes:
            lines.append("  likely causes, most likely first:")
            lines += [f"    {i}. {cause}" for i, cause in enumerate(self.causes, 1)]
        if self.remedies:
            lines.append("  try:")
            lines += [f"    - {r.render()}" for r in self.remedies]
        return "\n".join(lines)

    def render_markdown(self) -> str:
        """The same text for TensorBoard's text plugin (Markdown: lists need blank lines)."""
        out = [f"**{self.title}** ({self.steps()}, {self.severity})", "", f"Seen: {self.seen}"]
        if self.causes:
            out += ["", "Likely causes, most likely first:", ""]
            out += [f"{i}. {cause}" for i, cause in enumerate(self.causes, 1)]
        if self.remedies:
            out += ["", "Try:", ""]
            out += [f"- `{r.setting}`" + (f": {r.why}" if r.why else "") for r in self.remedies]
        return "\n".join(out)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "Finding":
        """Inverse of :meth:`to_dict`; unknown keys (from a newer ganforge) are ignored."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in row.items() if k in known}
        data["remedies"] = [r if isinstance(r, Remedy) else Remedy(**r)
                            for r in data.get("remedies", [])]
        return cls(**data)
