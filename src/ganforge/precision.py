"""Precision: what the forward passes compute in, chosen to fit the machine.

- ``fp32``: everything in float32.
- ``bf16``: autocast to bfloat16, master weights and losses in float32. Fast where the hardware
  computes bf16 natively; emulated, and much slower, where it does not (measured on DCGAN-28,
  batch 64: 1.65-2.1x faster than fp32 on a Sapphire Rapids CPU with AMX, 20x slower on an AMD
  EPYC with AVX2 only).
- ``fp16``: autocast to float16 with a gradient scaler (``torch.amp.GradScaler``), for GPUs
  without bf16 (T4, V100): the loss is scaled before backward so small fp16 gradients do not
  underflow, gradients are unscaled before clipping and the step, and a step whose gradients
  overflowed is skipped and the scale lowered. The penalties that take a gradient of a
  gradient (WGAN-GP, R1/R2, DRAGAN) run in float32 with autocast off (``regularizers.py``), so
  their inner gradient cannot underflow; the scaled total loss covers their outer backward.
- ``auto`` (the default): bf16 where the hardware computes it natively (CUDA compute
  capability 8.0 or higher; a CPU with AMX or AVX-512 BF16, read from its flags), fp32
  elsewhere. The plan says which was chosen and why.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ._lazy import torch
from .errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


FLAGS_ENV = "GANFORGE_CPU_FLAGS"


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere), or the space-separated
    flags in ``$GANFORGE_CPU_FLAGS`` when it is set: for a machine that hides its flags, and
    for the test suite, which pins them so that ``auto`` chooses alike on every CPU."""
    if FLAGS_ENV in os.environ:
        return set(os.environ[FLAGS_ENV].split())
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device) -> tuple[bool, str]:
    """(whether ``device`` computes bf16 natively, the evidence in words)."""
    device = torch.device(device)
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return (major, minor) >= (8, 0), f"CUDA compute capability {major}.{minor}"
    if device.type == "cpu":
        found = sorted(set(NATIVE_BF16_FLAGS) & cpu_flags())
        return bool(found), (f"this CPU has {', '.join(found)}" if found else
                             "this CPU has neither AMX nor AVX-512 BF16")
    return False, f"device type {device.type}"


def resolve(precision: str, device) -> tuple[str, str]:
    """(the precision to train in, why): ``auto`` becomes bf16 or fp32."""
    if precision not in PRECISIONS:
        raise UserError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    native, evidence = native_bf16(device)
    if precision == "auto":
        return ("bf16", f"auto: bf16, {evidence}") if native else (
            "fp32", f"auto: fp32, {evidence} (bf16 would be emulated, and slower)")
    if precision == "bf16" and not native:
        return "bf16", (f"bf16 as asked, but {evidence}: bf16 is emulated here and can be many "
                        "times slower than fp32 (20x on an AVX2-only AMD EPYC); "
                        "precision=auto picks fp32 on such hardware")
    return precision, "as asked"


VECTOR_FP32 = ("auto: fp32 for vector samples: bf16's 8-bit mantissa rounds a coordinate "
               "near 4 to steps of 0.03, the size of a 2-D mode, and a small MLP runs no "
               "faster in it")


def for_samples(asked: str, resolved: str, sample_shape) -> tuple[str, str | None]:
    """``auto`` once the data is known: vector samples (1-D, such as the 2-D mixtures) train
    in fp32 even where bf16 is native; (the precision, the new reason or None)."""
    if asked == "auto" and resolved == "bf16" and sample_shape is not None \
            and len(sample_shape) == 1:
        return "fp32", VECTOR_FP32
    return resolved, None


def autocast(precision: str, device):
    """The forward-pass context of ``precision`` (nothing for fp32)."""
    if precision in DTYPES:
        return torch.autocast(torch.device(device).type, dtype=getattr(torch, DTYPES[precision]))
    return contextlib.nullcontext()


def make_scaler(precision: str, device):
    """A gradient scaler for fp16, None otherwise."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(torch.device(device).type)
