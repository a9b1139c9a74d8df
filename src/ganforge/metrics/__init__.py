"""Evaluation metrics, one per file."""

from .mixture import mixture_modes

__all__ = ["mixture_modes"]
