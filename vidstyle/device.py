"""Choosing the compute device."""

from __future__ import annotations

import torch

from .errors import SettingsError
from .settings import PRECISIONS, check_precision

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
        raise SettingsError("device", "{name} cuda: no CUDA GPU is available (try {name} cpu)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise SettingsError("device", "{name} mps: Apple MPS is not available (try {name} cpu)")
    if name.split(":")[0] not in DEVICES[1:]:
        raise SettingsError("device", f"unknown {{name}} {name!r} (choose from {', '.join(DEVICES)})")
    return torch.device(name)


__all__ = ["DEVICES", "PRECISIONS", "cpu_has_native_bf16", "select_device", "select_dtype"]


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), where bf16
    convolutions run about twice as fast as fp32; elsewhere bf16 is emulated and slower."""
    if not torch.backends.mkldnn.is_available() or not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def select_dtype(precision: str, device: torch.device) -> torch.dtype:
    """Inference dtype: ``auto`` is fp16 on CUDA, bf16 on CPUs that have it, else fp32."""
    precision = check_precision(precision)
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else torch.float32
    if precision == "fp16" and device.type == "cpu":
        raise SettingsError("precision", "{name} fp16 needs a GPU; on the CPU use bf16 or fp32")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
