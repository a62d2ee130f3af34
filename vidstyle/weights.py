"""The style network file format: one safetensors file holding a trained network.

A file holds the :class:`~vidstyle.models.StyleNetwork` tensors (keys ``net.*``), a
small copy of the style image (``style_image``: uint8, H x W x 3, RGB) and JSON metadata
under the ``vidstyle`` key: format version, architecture, style name, training settings.
safetensors never executes code from a file, so any weights file is safe to open.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .errors import VidstyleError
from .models.transformer import StyleNetwork, build_transformer

FORMAT = "vidstyle-style"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
#: directories searched for style names: $VIDSTYLE_STYLES (os.pathsep-separated), then weights/
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
ENV_VAR = "VIDSTYLE_STYLES"
THUMBNAIL_SIZE = 256
#: the style used when none is named (``vidstyle demo``, the webcam's first style): the
#: real-time network
DEFAULT_STYLE = "starry_night_lite"


@dataclass
class StyleInfo:
    """What a weights file says about itself, without building the network."""

    name: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def arch(self) -> dict[str, int | str]:
        return self.metadata["arch"]

    @property
    def network(self) -> str:
        """A short description of the architecture, e.g. ``lite, width 8, 5 blocks``."""
        kind = self.arch.get("type", "johnson")
        return f"{kind}, width {self.arch.get('width')}, {self.arch.get('blocks')} blocks"

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description for ``vidstyle styles``."""
        train = self.metadata.get("training", {})
        return {
            "name": self.name,
            "path": str(self.path),
            "network": self.network,
            "type": self.arch.get("type", "johnson"),
            "width": self.arch.get("width"),
            "blocks": self.arch.get("blocks"),
            "size_mb": round(self.path.stat().st_size / 1e6, 2),
            "style_image": self.metadata.get("style_image_name"),
            "iterations": train.get("iterations"),
            "description": self.metadata.get("description", ""),
        }


@dataclass
class Style:
    """A loaded style network, ready to run."""

    info: StyleInfo
    net: StyleNetwork
    style_image: np.ndarray

    @property
    def name(self) -> str:
        return self.info.name


def style_dirs(extra: list[Path] | None = None) -> list[Path]:
    """Directories searched for style names, in order."""
    dirs = list(extra or [])
    dirs += [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    dirs.append(SHIPPED_DIR)
    return dirs


def save_style(
    path: Path,
    net: StyleNetwork,
    *,
    name: str,
    style_image: np.ndarray,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write ``net`` and its style image as a weights file (atomically)."""
    thumb = _thumbnail(style_image)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "arch": net.config,
        **(metadata or {}),
    }
    tensors = {f"net.{k}": v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors["style_image"] = torch.from_numpy(np.ascontiguousarray(thumb))
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    save_file(tensors, str(tmp), metadata={"vidstyle": json.dumps(meta)})
    os.replace(tmp, path)


def _thumbnail(image: np.ndarray) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    scale = THUMBNAIL_SIZE / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return image.astype(np.uint8)


def read_info(path: Path) -> StyleInfo:
    """Read the metadata of a weights file; a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise VidstyleError(f"style weights file not found: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("vidstyle", "null"))
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise VidstyleError(f"{path} is not a vidstyle weights file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise VidstyleError(f"{path} is not a vidstyle weights file (no vidstyle metadata)")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise VidstyleError(f"{path} needs a newer vidstyle (format {meta['format_version']})")
    return StyleInfo(name=path.stem, path=path, metadata=meta)


def list_styles(extra_dirs: list[Path] | None = None) -> list[StyleInfo]:
    """Every readable weights file in the style directories (first name wins)."""
    found: dict[str, StyleInfo] = {}
    for directory in style_dirs(extra_dirs):
        for path in sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []:
            try:
                info = read_info(path)
            except VidstyleError:
                continue
            found.setdefault(info.name, info)
    return list(found.values())


def find_style(name_or_path: str | Path, extra_dirs: list[Path] | None = None) -> Path:
    """A path for a style name (file stem in the style directories) or an existing path."""
    candidate = Path(name_or_path)
    if candidate.suffix == SUFFIX or candidate.exists() or os.sep in str(name_or_path):
        if not candidate.exists():
            raise VidstyleError(f"style weights file not found: {candidate}")
        return candidate
    for info in list_styles(extra_dirs):
        if info.name == str(name_or_path):
            return info.path
    names = ", ".join(i.name for i in list_styles(extra_dirs)) or "none installed"
    raise VidstyleError(f"unknown style {str(name_or_path)!r} (available: {names})")


def load_style(
    name_or_path: str | Path, device: torch.device | str = "cpu", extra_dirs: list[Path] | None = None
) -> Style:
    """Load a style network by shipped name or path, in eval mode on ``device``."""
    path = find_style(name_or_path, extra_dirs)
    info = read_info(path)
    try:
        with safe_open(str(path), "pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        net = build_transformer(info.arch)
        state = {k.removeprefix("net."): v for k, v in tensors.items() if k.startswith("net.")}
        net.load_state_dict(state)
    except (SafetensorError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise VidstyleError(f"{path} is not a valid vidstyle weights file: {exc}") from None
    style_image = tensors.get("style_image", torch.zeros(1, 1, 3, dtype=torch.uint8)).numpy()
    return Style(info=info, net=net.eval().to(device), style_image=style_image)
