"""Choosing the compute device."""

from __future__ import annotations

import torch

from .errors import VidstyleError

DEVICES = ("auto", "cpu", "cuda", "mps")


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an unavailable choice is an error."""
    name = name.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VidstyleError("--device cuda: no CUDA GPU is available (try --device cpu)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise VidstyleError("--device mps: Apple MPS is not available (try --device cpu)")
    if name.split(":")[0] not in DEVICES[1:]:
        raise VidstyleError(f"unknown device {name!r} (choose from {', '.join(DEVICES)})")
    return torch.device(name)
