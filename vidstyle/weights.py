"""The style network file format: one safetensors file holding a trained network.

A file holds the :class:`~vidstyle.models.StyleNetwork` tensors (keys ``net.*``), a
small copy of the style image (``style_image``: uint8, H x W x 3, RGB) and JSON metadata
under the ``vidstyle`` key: format version, architecture, style name, training settings.
safetensors never executes code from a file, so any weights file is safe to open.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .defaults import DEFAULT_STYLE
from .errors import VidstyleError
from .io.fileio import atomic_output, respect_umask
from .io.images import is_image_path
from .models.transformer import ArchitectureError, StyleNetwork, build_transformer, check_config

FORMAT = "vidstyle-style"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
#: the package that holds the shipped styles: pyproject.toml maps it to the repository's
#: top-level weights/ folder, so wheels carry the files and editable installs see that folder
SHIPPED_PACKAGE = "vidstyle._shipped"


def _shipped_dir() -> Path:
    """Where the shipped styles are: the installed package's folder, or, when vidstyle runs
    from a source tree that was never installed, the repository's weights/ folder."""
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "weights"


#: directories searched for style names: $VIDSTYLE_STYLES (os.pathsep-separated), then these
SHIPPED_DIR = _shipped_dir()
ENV_VAR = "VIDSTYLE_STYLES"
THUMBNAIL_SIZE = 256


@dataclass
class StyleInfo:
    """What a weights file says about itself, without building the network.

    ``name`` is the name stored in the file (``train --name``, else the painting's stem), or
    the file stem for a file without one; ``-s`` finds a style by either (:func:`match_style`).
    """

    name: str
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """The file name without its suffix: the other name the style is found by."""
        return self.path.stem

    @property
    def arch(self) -> dict[str, int | str]:
        return self.metadata["arch"]

    @property
    def network(self) -> str:
        """A short description of the architecture, e.g. ``lite, width 8, 5 blocks``."""
        kind, blocks = self.arch.get("type", "johnson"), self.arch.get("blocks")
        text = f"{kind}, width {self.arch.get('width')}, {blocks} block{'' if blocks == 1 else 's'}"
        dilation = self.arch.get("dilation")
        return f"{text}, dilated {','.join(map(str, dilation))}" if dilation else text

    def summary(self, default: bool = False) -> dict[str, Any]:
        """Everything ``vidstyle styles`` shows, JSON-friendly: ``training`` holds the training
        command, settings, wall time (``seconds``) and final losses as the file records them;
        ``default`` marks the style used when none is named."""
        train = self.metadata.get("training")
        train = train if isinstance(train, dict) else {}
        return {
            "name": self.name,
            "file_stem": self.stem,
            "default": default,
            "path": str(self.path),
            "network": self.network,
            "type": self.arch.get("type", "johnson"),
            "width": self.arch.get("width"),
            "blocks": self.arch.get("blocks"),
            "size_mb": round(self.path.stat().st_size / 1e6, 2),
            "style_image": self.metadata.get("style_image_name"),
            "iterations": train.get("iterations"),
            "training_seconds": train.get("seconds"),
            "description": self.metadata.get("description", ""),
            "training": train,
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
    with atomic_output(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata={"vidstyle": json.dumps(meta)})
        respect_umask(tmp)  # safetensors writes a new, private (0600) file


def _thumbnail(image: np.ndarray) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    scale = THUMBNAIL_SIZE / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return image.astype(np.uint8)


class ForeignFileError(VidstyleError):
    """A readable safetensors file without vidstyle metadata: another program's file, which
    a styles folder may hold beside the styles (listed without a warning)."""


def read_info(path: Path) -> StyleInfo:
    """Read and check the metadata of a weights file; a one-line error if it is not one.

    The architecture is validated here, before any network is built, so that every
    :class:`StyleInfo` describes a network that can be built without exhausting memory.
    """
    path = Path(path)
    if path.is_dir():
        raise VidstyleError(f"{path} is a directory, not a style weights file")
    if not path.is_file():
        raise VidstyleError(f"style weights file not found: {path}")
    if is_image_path(path):
        raise _image_given(path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("vidstyle", "null"))
    except (SafetensorError, OSError, ValueError) as exc:
        if _is_image(path):
            raise _image_given(path) from None
        raise VidstyleError(f"{path} is not a vidstyle weights file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ForeignFileError(f"{path} is not a vidstyle weights file (no vidstyle metadata)")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise VidstyleError(f"{path} has an invalid format version {version!r:.30}")
    if version > FORMAT_VERSION:
        raise VidstyleError(f"{path} needs a newer vidstyle (format {version})")
    if "arch" not in meta:
        raise VidstyleError(f"{path} has no network architecture (arch) in its metadata")
    try:
        meta["arch"] = check_config(meta["arch"])
    except ArchitectureError as exc:
        raise VidstyleError(f"{path} has an invalid network architecture: {exc}") from None
    check_tensors(path, meta["arch"])
    name = meta.get("name")
    return StyleInfo(
        name=name if isinstance(name, str) and name.strip() else path.stem, path=path, metadata=meta
    )


def check_tensors(path: Path, arch: dict[str, int | str]) -> None:
    """Refuse, in one line naming the tensor, a file whose tensors do not fit its network:
    one missing, of another shape, or unknown to it. Only the header is read (the network
    is built on the meta device), so listing styles checks every file at little cost and
    never offers one that would fail to load."""
    with torch.device("meta"):
        state = build_transformer(arch).state_dict()
    expected = {f"net.{key}": tuple(value.shape) for key, value in state.items()}
    try:
        with safe_open(str(path), "pt") as f:
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise VidstyleError(f"{path} is not a vidstyle weights file ({exc})") from None
    for key, shape in expected.items():
        if key not in shapes:
            raise VidstyleError(f"{path} is damaged: it lacks the tensor {key}")
        if shapes[key] != shape:
            raise VidstyleError(
                f"{path} is damaged: tensor {key} has shape {list(shapes[key])}, "
                f"its network needs {list(shape)}"
            )
    extra = sorted(key for key in shapes if key.startswith("net.") and key not in expected)
    if extra:
        raise VidstyleError(f"{path} is damaged: tensor {extra[0]} has no place in its network")


def _is_image(path: Path) -> bool:
    """Whether ``path`` holds a picture whatever its name (PIL reads only the header)."""
    from PIL import Image

    try:
        with Image.open(path):
            return True
    except Exception:  # any file PIL cannot identify is not a picture
        return False


def _image_given(path: Path) -> VidstyleError:
    """The error for a painting passed where a trained network is expected."""
    return VidstyleError(
        f"{path} is an image, not a style network: use it with {{mode}} hq (optimises with any "
        "painting), or train a network from it with `vidstyle train`",
        settings=("mode",),
    )


def _warn(message: str) -> None:
    """One line on stderr, the CLI's form for a problem that does not stop the command."""
    print(f"warning: {message}", file=sys.stderr)


def list_styles(extra_dirs: list[Path] | None = None, warn: Callable[[str], None] = _warn) -> list[StyleInfo]:
    """Every valid weights file in the style directories, in search order; a file stem found
    again in a later directory is left out (``-s STEM`` finds the first).

    ``extra_dirs`` must exist (they were asked for); missing $VIDSTYLE_STYLES entries are
    skipped. A damaged or invalid file is skipped with a one-line ``warn``, so one bad file
    does not hide the others; other programs' safetensors files are skipped silently.
    """
    styles, broken = scan_styles(extra_dirs)
    for message in broken.values():
        warn(f"{message} (skipped)")
    return styles


def scan_styles(extra_dirs: list[Path] | None = None) -> tuple[list[StyleInfo], dict[str, str]]:
    """The valid styles (as :func:`list_styles` has them) and, by file stem, why each
    damaged or invalid file cannot be used (the first of a stem; none whose stem a valid
    file has): the caller decides whether these are warnings or the error."""
    for directory in extra_dirs or []:
        if not Path(directory).is_dir():
            state = "is not a directory" if Path(directory).exists() else "not found"
            raise VidstyleError(f"styles directory {state}: {directory}")
    found: dict[str, StyleInfo] = {}
    broken: dict[str, str] = {}
    for directory in style_dirs(extra_dirs):
        for path in sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []:
            try:
                info = read_info(path)
            except ForeignFileError:
                continue
            except VidstyleError as exc:
                broken.setdefault(path.stem, str(exc))
                continue
            found.setdefault(info.stem, info)
    return list(found.values()), {stem: why for stem, why in broken.items() if stem not in found}


def match_style(name: str, styles: list[StyleInfo]) -> StyleInfo | None:
    """The style that ``-s name`` means among ``styles``: the first whose file stem is ``name``,
    else the first whose stored name is, so that a file stem wins over another file's name."""
    by_stem = (info for info in styles if info.stem == name)
    by_name = (info for info in styles if info.name == name)
    return next(by_stem, None) or next(by_name, None)


def style_summaries(extra_dirs: list[Path] | None = None, warn: Callable[[str], None] = _warn) -> list[dict]:
    """What ``vidstyle styles`` lists: each style's :meth:`StyleInfo.summary`, with the style
    that :data:`DEFAULT_STYLE` finds marked as the default."""
    styles = list_styles(extra_dirs, warn)
    default = match_style(DEFAULT_STYLE, styles)
    return [info.summary(default=info is default) for info in styles]


def find_style(name_or_path: str | Path, extra_dirs: list[Path] | None = None) -> Path:
    """A path for a style name (see :func:`match_style`) or an existing path."""
    if not str(name_or_path).strip():
        raise VidstyleError("no style given: -s takes a style name or a weights file (see `vidstyle styles`)")
    candidate = Path(name_or_path)
    if candidate.suffix == SUFFIX or candidate.is_file() or os.sep in str(name_or_path):
        if not candidate.exists():
            raise VidstyleError(f"style weights file not found: {candidate}")
        return candidate
    available, broken = scan_styles(extra_dirs)
    found = match_style(str(name_or_path), available)
    if found is not None:
        for message in broken.values():
            _warn(f"{message} (skipped)")
        return found.path
    if str(name_or_path) in broken:  # the style asked for is there, but cannot be used
        raise VidstyleError(broken[str(name_or_path)])
    if candidate.exists():  # a folder of that name in the working directory, and no such style
        return candidate
    names = ", ".join(_label(info) for info in available) or "none installed"
    unusable = f"; {len(broken)} invalid file(s) skipped, see `vidstyle styles`" if broken else ""
    raise VidstyleError(f"unknown style {str(name_or_path)!r} (available: {names}{unusable})")


def _label(info: StyleInfo) -> str:
    """A style's name as ``-s`` takes it, with its file stem when that differs."""
    return info.name if info.name == info.stem else f"{info.name} (file {info.stem})"


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
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VidstyleError(f"{path} is not a valid vidstyle weights file: {reason}") from None
    style_image = tensors.get("style_image", torch.zeros(1, 1, 3, dtype=torch.uint8)).numpy()
    return Style(info=info, net=net.eval().to(device), style_image=style_image)
