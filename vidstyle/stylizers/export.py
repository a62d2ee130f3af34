"""ONNX export of a style network, for ONNX Runtime, OpenCV's dnn module and other runtimes.

The exported graph is the network alone, with dynamic batch, height and width:

- input ``input``: float32, N x 3 x H x W, RGB in [0, 1] (pixels / 255);
- output ``output``: float32, N x 3 x H x W, RGB in [0, 1], already clamped;
- H and W must be multiples of :data:`MULTIPLE` and at least :data:`MIN_SIDE`: pad other
  frames (reflection, as ``vidstyle stylize`` does) and crop the result. vidstyle pads
  inside the network, but that takes ``Shape`` arithmetic in the graph, which OpenCV's
  classic importer (OpenCV 4.x's only one) refuses for dynamic sizes.

Three kinds of layer are written in equivalent forms that every consumer runs, in place
of the exporter's own: reflection padding becomes one ``Pad`` with constant pads (the
exporter computes them in a subgraph that OpenCV 4.x cannot import and OpenCV 5's classic
engine crashes on), and the lite network's pixel unshuffle and shuffle become a stride-2
convolution and transposed convolution with 0/1 weights (OpenCV 5 gives the exporter's
reshapes wrong shapes without an error; OpenCV 4.10 cannot import ``DepthToSpace`` with
dynamic sizes). The results are the same to float rounding.

The exporter is PyTorch's TorchScript-based one, which needs no other package; the
``onnx`` package writes the style's name, architecture and this convention into the
file's metadata.
"""

from __future__ import annotations

import copy
import inspect
import io
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from ..defaults import MAX_OPSET, MIN_OPSET, OPSET, VERSION
from ..errors import SettingsError, VidstyleError
from ..io.fileio import atomic_output, check_output_path
from ..models.transformer import DepthToSpace, SpaceToDepth, StyleNetwork
from ..weights import load_style
from .fast import NETWORK_MIN_SIDE

#: the graph's height and width must be multiples of this (the network halves them twice)
MULTIPLE = StyleNetwork.multiple
#: and at least this (the 9x9 reflection padding of the classic network)
MIN_SIDE = NETWORK_MIN_SIDE
INPUT, OUTPUT = "input", "output"
CONVENTION = (
    f"float32 NCHW RGB in [0, 1] in and out (output clamped); H and W multiples of {MULTIPLE}, "
    f"at least {MIN_SIDE}"
)


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote."""

    output: Path
    style: str
    network: str
    opset: int
    bytes: int

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "output": str(self.output)}


def export_onnx(
    style: str | Path, output: Path, *, opset: int = OPSET, overwrite: bool = False
) -> ExportResult:
    """Write the style network ``style`` (a name or weights file) to ``output`` as ONNX.

    The file is written atomically; an existing ``output`` is refused unless ``overwrite``.
    """
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise SettingsError("opset", f"must be from {MIN_OPSET} to {MAX_OPSET}, not {opset}")
    onnx = _import_onnx()
    loaded = load_style(style)
    output = Path(output)
    check_output_path(output, inputs=(loaded.info.path,), overwrite=overwrite)
    model = onnx.load_from_string(_export(loaded.net, opset))
    model.doc_string = f"vidstyle style network {loaded.name!r}: {CONVENTION}"
    metadata = {
        "vidstyle.style": loaded.name,
        "vidstyle.arch": json.dumps(loaded.info.arch),
        "vidstyle.convention": CONVENTION,
        "vidstyle.version": VERSION,
    }
    onnx.helper.set_model_props(model, metadata)
    with atomic_output(output, replace=overwrite) as tmp:
        onnx.save(model, str(tmp))
    return ExportResult(output, loaded.name, loaded.info.network, opset, output.stat().st_size)


def _import_onnx() -> ModuleType:
    try:
        import onnx
    except ImportError:
        raise VidstyleError("ONNX export needs the onnx package: pip install 'vidstyle[onnx]'") from None
    return onnx


def _export(net: StyleNetwork, opset: int) -> bytes:
    """The ONNX bytes of :func:`export_form` of ``net``, traced at a small size.

    Grad mode stays on so that the layers take PyTorch's reference kernels: vidstyle's CPU
    inference shortcuts would trace into many small copies. The exporter's warnings (its
    deprecation, instance norm's training flag) concern its internals, not the file.
    """
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with warnings.catch_warnings(), torch.enable_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            export_form(net),
            (torch.zeros(1, 3, 8 * MULTIPLE, 8 * MULTIPLE),),
            buffer,
            opset_version=opset,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: axes, OUTPUT: axes},
            **legacy,
        )
    return buffer.getvalue()


def export_form(net: StyleNetwork) -> nn.Module:
    """A copy of ``net`` in the form that is exported (see the module docstring): no
    padding to :data:`MULTIPLE`, output clamped to [0, 1], layers in portable forms."""
    net = copy.deepcopy(net).eval().requires_grad_(False)
    channels = _input_channels(net, (SpaceToDepth, DepthToSpace))
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.ReflectionPad2d):
            portable: nn.Module = _ReflectionPad(module.padding)
        elif isinstance(module, SpaceToDepth):
            portable = _fold(channels[module], module.downscale_factor)
        elif isinstance(module, DepthToSpace):
            portable = _unfold(channels[module], module.upscale_factor)
        else:
            continue
        parent, _, attr = name.rpartition(".")
        setattr(net.get_submodule(parent), attr, portable)
    return _Unpadded(net)


def _input_channels(net: StyleNetwork, kinds: tuple[type[nn.Module], ...]) -> dict[nn.Module, int]:
    """The channels that each layer of ``kinds`` receives, from one small forward pass."""
    found: dict[nn.Module, int] = {}

    def note(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:  # None: inputs unchanged
        found[module] = args[0].shape[1]

    hooks = [m.register_forward_pre_hook(note) for m in net.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        net(torch.zeros(1, 3, MIN_SIDE, MIN_SIDE))
    for hook in hooks:
        hook.remove()
    return found


def _shuffle_weight(channels: int, factor: int) -> torch.Tensor:
    """0/1 weights that move input channel ``c``'s pixel (i, j) of each ``factor``-square
    to channel ``c * factor**2 + i * factor + j``, PixelUnshuffle's order."""
    folded = channels * factor * factor
    return torch.eye(folded).view(folded, channels, factor, factor)


def _fold(channels: int, factor: int) -> nn.Conv2d:
    """:class:`~torch.nn.PixelUnshuffle` as a strided convolution."""
    conv = nn.Conv2d(channels, channels * factor * factor, factor, stride=factor, bias=False)
    conv.weight = nn.Parameter(_shuffle_weight(channels, factor), requires_grad=False)
    return conv


def _unfold(folded: int, factor: int) -> nn.ConvTranspose2d:
    """:class:`~torch.nn.PixelShuffle` (of ``folded`` channels) as a strided transposed convolution."""
    channels = folded // (factor * factor)
    conv = nn.ConvTranspose2d(folded, channels, factor, stride=factor, bias=False)
    conv.weight = nn.Parameter(_shuffle_weight(channels, factor), requires_grad=False)
    return conv


class _ReflectPad(torch.autograd.Function):
    """Reflection padding that exports as one ``Pad`` with constant pads."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
        return F.pad(x, padding, mode="reflect")

    @staticmethod
    def symbolic(g, x, padding):  # the TorchScript exporter's graph context and values
        left, right, top, bottom = padding
        pads = g.op("Constant", value_t=torch.tensor([0, 0, top, left, 0, 0, bottom, right]))
        return g.op("Pad", x, pads, mode_s="reflect")


class _ReflectionPad(nn.Module):
    def __init__(self, padding: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.padding = tuple(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReflectPad.apply(x, self.padding)


class _Unpadded(nn.Module):
    """``net`` without its padding to a multiple of 4 and with its output clamped."""

    def __init__(self, net: StyleNetwork) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        return net.decoder(net.residuals(net.encoder(x))).clamp(0, 1)
