"""Training a style network with the perceptual loss of Johnson et al. 2016.

With a ``teacher`` (an existing style network), the network instead learns to reproduce
the teacher's output (distillation): a cheap way to move a trained style into a lighter
architecture, with no VGG passes unless perceptual weights are also set. With ``init``, a
trained network is fine-tuned instead of starting from random weights (e.g. to add the
stability term to a shipped style).

Checkpoints are written atomically every ``checkpoint_every`` iterations; a run stopped by
Ctrl-C or SIGTERM also writes one, with the weights trained so far as its output, and
``resume=True`` continues exactly (model, optimizer, iteration; the data order is a pure
function of the iteration, see :mod:`vidstyle.training.data`). A finished run removes its checkpoint.
Under ``torchrun`` the run uses DistributedDataParallel, each rank taking its own share of
every global batch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..defaults import DATA_ENV_VAR as DATA_ENV_VAR  # re-exported: the training photos' variable
from ..defaults import (
    DEFAULT_WIDTHS,
    FP32_CPU_TRAIN_BATCH_SIZE,
    QUALITY_ITERATIONS,
    TRAIN_BATCH_SIZE,
    TrainDefaults,
)
from ..device import select_device, select_dtype
from ..errors import SettingsError, Stopped, Terminated, VidstyleError, signals_as_interrupts
from ..io.fileio import check_output_path, same_file
from ..io.images import read_image, resize_max, to_images, to_tensor, write_image
from ..models import ARCHITECTURES, StyleNetwork, VGGFeatures
from ..models.transformer import MAX_BLOCKS, MAX_DILATION, MAX_WIDTH
from ..models.vgg import layer_names
from ..quality import lab_pixels
from ..weights import DEFAULT_STYLE, Style, find_style, load_style, save_style
from . import vgg_weights
from .balance import EVERY as BALANCE_EVERY
from .balance import PROBES, StyleBalance, probe_photos
from .data import PhotoSampler
from .losses import content_loss, gram_matrix, palette_loss, parse_layer_weights, style_loss, tv_loss

#: settings a resumed run must share with its checkpoint (the rest may change, e.g. weights)
_RESUME_KEYS = (
    "arch", "width", "blocks", "dilation", "batch_size", "image_size", "seed", "style_layers", "teacher",
    "init",
)
#: what checkpoints written before a resume key existed meant by its absence
_BEFORE_KEYS = {"arch": "johnson", "teacher": None, "init": None, "dilation": None}
#: the most noise the stability term adds (levels of 255): beyond it the copy is mostly noise
MAX_STABILITY_NOISE = 64
#: the smallest training crop the style networks take: they work at a quarter of it (rounded
#: up), where reflection padding and instance norm need 2 pixels; the loss network may need more
MIN_IMAGE_SIZE = 5


#: the network a new style starts from when no architecture is asked for: the default
#: real-time style, whose encoder and decoder already keep the scene, so only the style moves
BASE_STYLE = DEFAULT_STYLE
#: style weight of that fine-tuning: the base network holds on to its own painting, and at
#: the from-scratch weight (10) a new style took over too slowly to finish in the standard run
BASE_STYLE_WEIGHT = 30.0
#: structure that fine-tuning the base network keeps (see :class:`~vidstyle.defaults.TrainDefaults`)
STRUCTURE_TARGET = TrainDefaults.structure_target
#: iterations a run times before it says how long it expects to take; the first, which
#: sets up the kernels, is not counted
ESTIMATE_AFTER = 3
#: the iteration of a run's first sample, when samples are further apart: an early look
FIRST_SAMPLE = 20
#: the palette term compares the colours of the outputs averaged over 2 x 2 pixels: a
#: quarter of the values to sort (0.2 s a step instead of 0.68 s for 4 crops of 256 px on 2
#: cores, 40% of the whole step), still thousands of colours a crop
PALETTE_POOL = 2


@dataclass
class TrainConfig:
    """Every setting of a training run; stored in the checkpoint and the weights file.

    With no ``arch``, ``width``, ``blocks``, ``init`` or ``teacher``, a run fine-tunes the
    real-time base network (:data:`BASE_STYLE`) for ``quality``'s iterations: a new
    real-time style in one command. Any of them asks for another network instead
    (``arch`` then defaults to johnson, trained from scratch).
    """

    style_image: Path | None
    data: Path
    output: Path
    name: str | None = None
    arch: str | None = None
    teacher: Path | None = None
    #: a weights file to start from (fine-tuning); its architecture replaces arch, and its
    #: width and blocks unless others are asked for: fewer blocks keep its first ``blocks``
    #: residual blocks, more add blocks that start as the identity, and a larger width adds
    #: channels that start unread (either way the network's output starts unchanged)
    init: Path | None = None
    distill_weight: float = TrainDefaults.distill_weight
    image_size: int = TrainDefaults.image_size
    #: longest side of the style image for the style loss; ``None`` or 0: as it is
    style_size: int | None = TrainDefaults.style_size
    #: crops per step; ``None``: :data:`~vidstyle.defaults.TRAIN_BATCH_SIZE`, or
    #: :data:`~vidstyle.defaults.FP32_CPU_TRAIN_BATCH_SIZE` where the run computes in fp32 on a CPU
    batch_size: int | None = TrainDefaults.batch_size
    #: ``None``: the iterations of ``quality``
    iterations: int | None = None
    quality: str = TrainDefaults.quality
    epochs: float | None = None
    lr: float = TrainDefaults.lr
    #: base channels; ``None``: the architecture's default (:data:`DEFAULT_WIDTHS`), or with
    #: ``init`` that network's own
    width: int | None = None
    #: residual blocks; ``None`` = 5, or with ``init`` as many as that network has
    blocks: int | None = None
    #: dilation of the first convolution of the residual blocks this run creates: every block
    #: of a new network, or the blocks added to ``init``'s (a wider reach for the same cost,
    #: see :class:`~vidstyle.models.transformer.ResidualBlock`); ``None``: 1
    dilation: int | None = None
    vgg: str = TrainDefaults.vgg
    vgg_weights: Path | None = None
    content_layer: str = TrainDefaults.content_layer
    style_layers: str = TrainDefaults.style_layers
    #: perceptual weights; ``None`` = 1, 10, 1 without a teacher and 0 with one.
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    stability_weight: float = TrainDefaults.stability_weight
    #: noise of the stability term's moved copy (:func:`perturb`), levels of 255
    stability_noise: float = TrainDefaults.stability_noise
    #: weight of the palette term (vidstyle.training.losses.palette_loss, CIELAB units): pulls the
    #: output's colours to the painting's in their proportions; 0 = off
    palette_weight: float | None = None
    #: steer the style weight to keep this structure (vidstyle.training.balance); ``None``: the
    #: base network's fine-tuning keeps :data:`STRUCTURE_TARGET`, other runs do not steer (0)
    structure_target: float | None = None
    seed: int = TrainDefaults.seed
    checkpoint_every: int = TrainDefaults.checkpoint_every
    sample_every: int = TrainDefaults.sample_every
    sample_image: Path | None = None
    device: str = TrainDefaults.device
    amp: bool = TrainDefaults.amp
    threads: int | None = None

    def __post_init__(self) -> None:
        self._choose_network()
        perceptual = self.teacher is None
        if self.content_weight is None:
            self.content_weight = 1.0 if perceptual else 0.0
        if self.style_weight is None:
            self.style_weight = 10.0 if perceptual else 0.0
        if self.tv_weight is None:
            self.tv_weight = 1.0 if perceptual else 0.0
        if self.palette_weight is None:
            self.palette_weight = TrainDefaults.palette_weight if perceptual else 0.0
        if self.blocks is None and self.init is None:
            self.blocks = 5
        if self.style_size == 0:
            self.style_size = None
        if self.batch_size is None:
            device = select_device(self.device)
            fp32_cpu = device.type == "cpu" and not mixed_precision(device, self.amp)
            self.batch_size = FP32_CPU_TRAIN_BATCH_SIZE if fp32_cpu else TRAIN_BATCH_SIZE
        if self.style_image is None and self.teacher is None:
            problem = "give a style image, or a {teacher} network to distill"
            raise VidstyleError(problem, settings=("teacher",))
        if self.style_image is None and self.style_weight:
            problem = "a style loss needs the style image: give it or set {style_weight} 0"
            raise VidstyleError(problem, settings=("style_weight",))
        self._check_layers()
        self._check_counts()
        self._check_rates()

    def _choose_network(self) -> None:
        """Fill in the network and run length left open (see the class docstring)."""
        if (self.arch, self.width, self.blocks, self.init, self.teacher) == (None,) * 5:
            self.init = find_style(BASE_STYLE)
            if self.style_weight is None:
                self.style_weight = BASE_STYLE_WEIGHT
            if self.structure_target is None:
                self.structure_target = STRUCTURE_TARGET
        if self.structure_target is None:
            self.structure_target = 0.0
        if not 0 <= self.structure_target < 1:
            raise SettingsError(
                "structure_target", f"must be from 0 (off) to under 1, not {self.structure_target}"
            )
        self.arch = self.arch or "johnson"
        if self.arch not in ARCHITECTURES:
            raise SettingsError("arch", f"unknown {{name}} {self.arch!r} (known: {', '.join(ARCHITECTURES)})")
        if self.width is None and self.init is None:
            self.width = DEFAULT_WIDTHS[self.arch]
        if self.quality not in QUALITY_ITERATIONS:
            known = ", ".join(QUALITY_ITERATIONS)
            raise SettingsError("quality", f"must be one of {known}, not {self.quality!r}")
        if self.iterations is None:
            self.iterations = QUALITY_ITERATIONS[self.quality]

    def _check_layers(self) -> None:
        """Refuse an unknown loss network or layer, or a bad layer weight, before any file is read."""
        try:
            names = layer_names(self.vgg)
        except ValueError as exc:
            raise SettingsError("vgg", f"{{name}}: {exc}") from None
        try:
            weights = parse_layer_weights(self.style_layers)
        except ValueError as exc:
            raise SettingsError("style_layers", f"{{name}}: {exc}") from None
        unknown = [name for name in (self.content_layer, *weights) if name not in names]
        if unknown:
            raise VidstyleError(
                f"unknown {self.vgg} layer(s): {', '.join(unknown)} (names are like relu2_2 or relu4_3)"
            )
        bad = [f"{name}:{w}" for name, w in weights.items() if not (math.isfinite(w) and w >= 0)]
        if bad:
            raise SettingsError("style_layers", f"{{name}} weights must be 0 or more, not {', '.join(bad)}")

    def _check_counts(self) -> None:
        """Refuse counts and sizes that would fail mid-run (a division by zero at the first
        checkpoint, a crop that vanishes in a network) or finish having trained nothing."""
        counts = {
            "iterations": self.iterations,
            "batch_size": self.batch_size,
            "checkpoint_every": self.checkpoint_every,
            "sample_every": self.sample_every,
            "threads": 1 if self.threads is None else self.threads,
        }
        for field, value in counts.items():
            if value < 1:
                raise SettingsError(field, f"must be at least 1, not {value}")
        # the limits of a loadable weights file; 0 blocks (encoder and decoder alone) is a slip
        if self.width is not None and not 1 <= self.width <= MAX_WIDTH:
            raise SettingsError("width", f"must be from 1 to {MAX_WIDTH}, not {self.width}")
        if self.blocks is not None and not 1 <= self.blocks <= MAX_BLOCKS:
            raise SettingsError("blocks", f"must be from 1 to {MAX_BLOCKS}, not {self.blocks}")
        if self.dilation is not None and not 1 <= self.dilation <= MAX_DILATION:
            raise SettingsError("dilation", f"must be from 1 to {MAX_DILATION}, not {self.dilation}")
        smallest = max(MIN_IMAGE_SIZE, self.vgg_min_size)
        if self.image_size < smallest:
            raise SettingsError(
                "image_size",
                f"must be at least {smallest}, not {self.image_size} "
                "(smaller crops vanish in the networks' downsampling)",
            )
        if self.style_size is not None and self.style_size < 0:
            raise SettingsError("style_size", f"must be positive (0: as it is), not {self.style_size}")
        if self.seed < 0:
            raise SettingsError("seed", f"must be 0 or more, not {self.seed}")

    def _check_rates(self) -> None:
        """Refuse a learning rate or epoch count that is not positive and loss weights that are
        negative (they would maximise their loss); NaN fails every comparison, so it is refused too."""
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SettingsError("lr", f"must be positive, not {self.lr}")
        if self.epochs is not None and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise SettingsError("epochs", f"must be positive, not {self.epochs}")
        weights = {
            "content_weight": self.content_weight,
            "style_weight": self.style_weight,
            "tv_weight": self.tv_weight,
            "stability_weight": self.stability_weight,
            "palette_weight": self.palette_weight,
            "distill_weight": self.distill_weight,
        }
        for field, value in weights.items():
            if not (math.isfinite(value) and value >= 0):
                raise SettingsError(field, f"must be 0 or more, not {value}")
        if not (math.isfinite(self.stability_noise) and 0 <= self.stability_noise <= MAX_STABILITY_NOISE):
            problem = f"must be from 0 to {MAX_STABILITY_NOISE} levels, not {self.stability_noise}"
            raise SettingsError("stability_noise", problem)
        if self.teacher is None:
            del weights["distill_weight"]  # it weighs nothing without a teacher
        if not any(weights.values()):
            raise VidstyleError("every loss weight is 0: there is nothing to train")

    @property
    def uses_vgg(self) -> bool:
        return bool(self.content_weight or self.style_weight)

    @property
    def vgg_min_size(self) -> int:
        """The smallest image side the loss network takes: one pixel must be left after the
        poolings up to its deepest layer in use (1 without a loss network)."""
        if not self.uses_vgg:
            return 1
        names = layer_names(self.vgg)
        deepest = max(names.index(n) for n in (self.content_layer, *parse_layer_weights(self.style_layers)))
        return 2 ** sum(name.startswith("pool") for name in names[: deepest + 1])

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

    def to_metadata(self) -> dict[str, Any]:
        """The settings as a weights file records them: paths cut to their last part, so that a
        shared file does not show the trainer's folders (the checkpoint keeps whole paths)."""
        return {k: (_file_name(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

    @property
    def checkpoint_path(self) -> Path:
        return self.output.with_suffix(".ckpt")

    @property
    def samples_dir(self) -> Path:
        return self.output.with_suffix(".samples")


@dataclass
class Losses:
    content: float
    style: float
    tv: float
    stability: float
    distill: float
    total: float
    palette: float = 0.0


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _setup_distributed(device: torch.device) -> None:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def perturb(
    images: torch.Tensor, generator: torch.Generator, noise: float = TrainDefaults.stability_noise
) -> tuple[torch.Tensor, torch.Tensor]:
    """A slightly shifted, rotated, scaled and noised copy, and the affine grid that made it.

    The grid lets the caller apply the same transform to the network's output, so that
    ``net(perturb(x))`` can be compared with ``perturb(net(x))`` (stability loss). ``noise``
    is the standard deviation of the Gaussian noise added, in levels of 255: a video's frames
    differ by a camera's and a codec's noise as well as by motion, and a network that paints
    its motifs from that noise makes them flicker.
    """
    n = images.shape[0]
    r = torch.rand(n, 4, generator=generator, device="cpu") * 2 - 1
    angle = r[:, 0] * math.radians(1.0)
    scale = 1 + r[:, 1] * 0.02
    shift = r[:, 2:] * 0.02
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    grain = torch.randn(warped.shape, generator=generator, device="cpu").to(images) * (noise / 255)
    return (warped + grain).clamp(0, 1), grid


def _load_vgg(config: TrainConfig, layers: list[str], device: torch.device) -> tuple[VGGFeatures, str]:
    weights = vgg_weights.load(config.vgg, config.vgg_weights)
    vgg = VGGFeatures(config.vgg, layers, weights.state_dict).to(device)
    return vgg.to(memory_format=torch.channels_last), weights.source


def _style_grams(
    config: TrainConfig, style: np.ndarray, vgg: VGGFeatures, layers: dict[str, float], device: torch.device
) -> dict[str, torch.Tensor]:
    scaled = resize_max(style, config.style_size)
    if min(scaled.shape[:2]) < config.vgg_min_size:
        h, w = scaled.shape[:2]
        raise VidstyleError(
            f"the style image is too small for the loss network: {w}x{h} pixels as used, at least "
            f"{config.vgg_min_size} needed on each side (raise {{style_size}} or use a larger image)",
            settings=("style_size",),
        )
    with torch.no_grad():
        feats = vgg(to_tensor(scaled, device))
    return {k: gram_matrix(feats[k]) for k in layers}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _check_paths(config: TrainConfig, resume: bool, overwrite: bool) -> None:
    """Refuse, before any work, an output that would replace an input or cannot be written,
    and a checkpoint that is missing (``resume``) or in the way (a new run)."""
    output = config.output
    if output.suffix in (".ckpt", ".samples"):
        raise VidstyleError(
            f"output {output}: {output.suffix} names the run's own checkpoint or samples; "
            "use a .safetensors name"
        )
    inputs = {
        "style image": config.style_image,
        "{init} network": config.init,
        "{teacher} network": config.teacher,
        "{vgg_weights} file": config.vgg_weights,
        "{sample_image} photo": config.sample_image,
    }
    for role, path in inputs.items():
        if path is not None and same_file(output, path):
            settings = ("init", "teacher", "vgg_weights", "sample_image")
            raise VidstyleError(f"output {output} is the {role}; choose another path", settings=settings)
    if config.data.resolve() in output.resolve().parents:
        raise VidstyleError(
            f"output {output} is inside the training folder {config.data}: write it elsewhere "
            "(its progress samples would become training photos)"
        )
    ckpt = config.checkpoint_path
    if resume and not ckpt.is_file():
        raise VidstyleError(
            f"{{resume}}: no checkpoint at {ckpt} (a finished run removes its checkpoint)",
            settings=("resume",),
        )
    if not resume and ckpt.exists():
        raise VidstyleError(
            f"a checkpoint exists at {ckpt}: use {{resume}} to continue or delete it", settings=("resume",)
        )
    check_output_path(output, overwrite=overwrite or resume)  # resuming replaces what the stop wrote


def _dilation(config: TrainConfig, init: StyleNetwork | None) -> tuple[int, ...]:
    """Each residual block's dilation: ``init``'s own for the blocks kept from it, and
    ``config.dilation`` (1 if unset) for the blocks the run creates."""
    kept = init.dilation[: config.blocks] if init is not None else ()
    return (*kept, *(config.dilation or 1,) * (config.blocks - len(kept)))


def _start_from(net: StyleNetwork, init: StyleNetwork) -> None:
    """Copy ``init``'s weights into ``net``, so that the run starts from exactly ``init``'s
    output: its first residual blocks when ``net`` has fewer, and blocks that pass their
    input through unchanged when ``net`` has more. Where ``net`` is wider, ``init``'s
    channels come first and keep their weights; the added ones start from the usual random
    weights, and the weights that carry them into ``init``'s channels from zero, so that
    they change nothing until training grows those weights."""
    kept = min(len(init.residuals), len(net.residuals))
    state = {k: v for k, v in init.state_dict().items() if not k.startswith("residuals.")}
    state.update({f"residuals.{k}": v for k, v in init.residuals[:kept].state_dict().items()})
    own = net.state_dict()
    for key, old in state.items():
        new = own[key].clone()
        new[tuple(slice(0, n) for n in old.shape)] = old
        if new.dim() == 4:  # a convolution: out x in x kh x kw
            new[: old.shape[0], old.shape[1] :] = 0
        own[key] = new
    net.load_state_dict(own)
    for block in net.residuals[kept:]:
        block.make_identity()


def _resume(
    config: TrainConfig, net: StyleNetwork, optimizer: torch.optim.Optimizer, device: torch.device
) -> tuple[int, float, dict[str, float] | None, float | None]:
    """Load the checkpoint into ``net`` and ``optimizer``; its iteration, seconds, losses and
    style weight (where a :class:`~vidstyle.training.balance.StyleBalance` steered it)."""
    path = config.checkpoint_path
    damaged = VidstyleError(
        f"checkpoint {path} is damaged and cannot be resumed: delete it to start the run anew "
        "(without {resume})",
        settings=("resume",),
    )
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        saved = dict(state["config"])
    except Exception:  # a truncated or corrupt file fails in torch's zip, pickle or I/O code
        raise damaged from None
    for key in _RESUME_KEYS:
        value = saved.get(key, _BEFORE_KEYS.get(key))  # older checkpoints lack newer keys
        if str(value) != str(getattr(config, key)):
            raise VidstyleError(
                f"{{resume}}: {key} differs from the checkpoint ({value} vs "
                f"{getattr(config, key)}); use the same settings or start a new output",
                settings=("resume",),
            )
    try:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        # older checkpoints lack the losses
        extras = state.get("losses"), state.get("style_weight")
        return int(state["iteration"]), float(state["elapsed"]), *extras
    except (KeyError, RuntimeError, TypeError, ValueError):
        raise damaged from None


def _file_name(path: Path) -> str:
    """The last part of ``path`` (of the absolute path, so that ``.`` gives the folder's name)."""
    return Path(os.path.abspath(path)).name


def _command(config: TrainConfig) -> str:
    """The command line that ran training, its paths cut like :meth:`TrainConfig.to_metadata`'s."""
    paths = {value for value in vars(config).values() if isinstance(value, Path)}

    def short(arg: str) -> str:
        option, equals, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        return option + equals + (_file_name(Path(value)) if value and Path(value) in paths else value)

    return shlex.join([Path(sys.argv[0]).name, *map(short, sys.argv[1:])])


def _steering(balance: StyleBalance | None) -> str:
    """Where the style weight stands, for the log."""
    if balance is None or balance.last_structure is None:
        return ""
    return f" (style weight {balance.weight:.3g}, structure {balance.last_structure:.3f})"


def _fixed_sample(config: TrainConfig, sampler: PhotoSampler) -> np.ndarray:
    photo = read_image(config.sample_image) if config.sample_image is not None else sampler.first_image()
    return resize_max(photo, 384)


@dataclass
class _Objective:
    """The loss of one step, weighted as the run's settings say: content and style (VGG),
    distillation from a teacher, total variation, the palette term and the stability term."""

    config: TrainConfig
    vgg: VGGFeatures | None
    grams: dict[str, torch.Tensor]
    style_layers: dict[str, float]
    teacher: Style | None
    painting_lab: torch.Tensor | None
    balance: StyleBalance | None

    def __call__(
        self, model: torch.nn.Module, x: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, Callable[[], Losses]]:
        """The total loss of ``model`` on the batch ``x``, and a function that reads its
        terms (a synchronisation on a GPU, so called only once the step is taken)."""
        config = self.config
        y = model(x)
        zero = torch.zeros((), device=x.device)
        c = s = d = stab = pal = zero
        if self.vgg is not None:
            with torch.no_grad():
                target = self.vgg(x, until=config.content_layer)[config.content_layer]
            feats = self.vgg(y)
            c = config.content_weight * content_loss(feats[config.content_layer], target)
            if self.grams:
                weight = self.balance.weight if self.balance else config.style_weight
                s = weight * style_loss(feats, self.grams, self.style_layers)
        if self.teacher is not None and config.distill_weight:
            with torch.no_grad():
                wanted = self.teacher.net(x).clamp(0, 1)
            d = config.distill_weight * F.mse_loss(y.float(), wanted.float())
        t = config.tv_weight * tv_loss(y.float())
        if self.painting_lab is not None:
            pal = config.palette_weight * palette_loss(F.avg_pool2d(y, PALETTE_POOL), self.painting_lab, gen)
        if config.stability_weight > 0:
            x2, grid = perturb(x, gen, config.stability_noise)
            y_warped = F.grid_sample(y, grid, padding_mode="border", align_corners=False)
            stab = config.stability_weight * F.mse_loss(model(x2).float(), y_warped.float())
        loss = c + s + t + stab + d + pal
        terms = (c, s, t, stab, d, loss, pal)
        return loss, lambda: Losses(*(term.item() for term in terms))


@dataclass
class _Step:
    """One optimisation step: the batch of iteration ``it``, the loss, the update.

    Each iteration's photos and random draws are a function of the iteration alone, so a
    resumed run takes the steps it would have taken. A loss that is not finite skips the
    update; three in a row end the run (a learning rate or weight too high).
    """

    config: TrainConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    objective: _Objective
    sampler: PhotoSampler
    device: torch.device
    rank: int
    local_batch: int
    amp_dtype: torch.dtype | None  # None: full precision
    scaler: torch.amp.GradScaler
    bad_steps: int = 0

    def __call__(self, it: int) -> Losses | None:
        """Train on iteration ``it``'s batch; its losses, or None if the step was skipped."""
        config = self.config
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + it * 7 + self.rank)
        first = it * config.batch_size + self.rank * self.local_batch
        x = self.sampler.batch(first, self.local_batch, self.device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss, terms = self.objective(self.model, x, gen)
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            self.bad_steps += 1
            if self.bad_steps >= 3:
                raise VidstyleError(
                    f"loss is not finite at iteration {it + 1} three times in a row; "
                    "lower {lr} or the loss weights",
                    settings=("lr",),
                )
            return None
        self.bad_steps = 0
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return terms()


@dataclass
class _Checkpointer:
    """Writes the run's checkpoint (to resume) and its weights file (the result), both
    atomically and on rank 0 only; both record the losses and the seconds trained."""

    config: TrainConfig
    net: StyleNetwork
    optimizer: torch.optim.Optimizer
    balance: StyleBalance | None
    teacher: Style | None
    style_image: np.ndarray
    vgg_source: str | None
    total: int
    rank: int
    world: int

    def checkpoint(self, iteration: int, elapsed: float, losses: Losses) -> None:
        if self.rank != 0:
            return
        _save_checkpoint(
            self.config.checkpoint_path,
            {
                "model": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "iteration": iteration,
                "elapsed": elapsed,
                "losses": dataclasses.asdict(losses),
                "config": self.config.to_json(),
                **({"style_weight": self.balance.weight} if self.balance else {}),
            },
        )

    def weights(self, done: int, elapsed: float, losses: Losses) -> None:
        """Write the network as trained for ``done`` iterations."""
        if self.rank != 0:
            return
        config, balance = self.config, self.balance
        save_style(
            config.output,
            self.net,
            name=config.name or _style_name(config, self.teacher),
            style_image=self.style_image,
            metadata={
                "style_image_name": _style_image_name(config, self.teacher),
                "training": {
                    **config.to_metadata(),
                    "iterations": done,
                    "planned_iterations": self.total,
                    "world_size": self.world,
                    "seconds": round(elapsed, 1),
                    "command": _command(config),
                    "final_losses": dataclasses.asdict(losses),
                    **({"final_style_weight": round(balance.weight, 3)} if balance else {}),
                    "vgg_source": self.vgg_source and Path(self.vgg_source).name,
                },
            },
        )


def train(
    config: TrainConfig,
    resume: bool = False,
    progress: Callable[[int, int, Losses, float], None] | None = None,
    *,
    overwrite: bool = False,
    warn: Callable[[str], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Run (or resume) a training run; returns the path of the finished weights file.

    An existing output is replaced only with ``overwrite`` (or ``resume``: a stopped run wrote
    it). ``warn`` receives a line for each photo skipped as unreadable (default: a
    UserWarning); ``log`` the time the run expects to take, measured on its first
    iterations (:data:`ESTIMATE_AFTER`), and a line for each checkpoint written, so a log
    file says what a stop would keep. Ctrl-C or SIGTERM stops the run with a checkpoint and
    the weights trained so far, then raises :class:`~vidstyle.errors.Stopped` with exit
    code 130 or 143.
    """
    _check_paths(config, resume, overwrite)
    run = _Run.prepare(config, resume, warn)
    step, saver, config = run.step, run.saver, run.config
    if run.rank != 0:
        progress = log = None
    clock = _Clock(run.start, run.total, run.device, log)
    restore = signals_as_interrupts()
    try:
        for it in range(run.start, run.total):
            losses = step(it)
            if losses is None:
                continue
            run.completed, run.losses = it + 1, losses
            run.elapsed += clock.tick(run.completed)
            run.after_step(progress, log)
    except KeyboardInterrupt as stop:
        raise run.stopped(stop) from None
    finally:
        restore()
    saver.weights(run.total, run.elapsed, run.losses)
    if run.rank == 0:
        config.checkpoint_path.unlink(missing_ok=True)  # the weights file now holds the whole run
    if run.world > 1:
        dist.barrier()
    return config.output


class _Clock:
    """Seconds trained, and the run's estimate of its length once a few iterations are timed."""

    def __init__(
        self, start: int, total: int, device: torch.device, log: Callable[[str], None] | None
    ) -> None:
        self.start, self.total, self.device, self.log = start, total, device, log
        self.last = time.perf_counter()
        self.timed_from = 0.0  # when this run's first iteration ended

    def tick(self, done: int) -> float:
        """The seconds since the last tick; logs the estimate at :data:`ESTIMATE_AFTER`."""
        now = time.perf_counter()
        seconds, self.last = now - self.last, now
        if done == self.start + 1:
            self.timed_from = now
        elif done == self.start + ESTIMATE_AFTER and self.log is not None and done < self.total:
            per_iteration = (now - self.timed_from) / (ESTIMATE_AFTER - 1)
            self.log(_estimate(self.total - self.start, per_iteration, self.device))
        return seconds


@dataclass
class _Run:
    """A run's state between steps, and what it does after each one and when stopped."""

    config: TrainConfig
    device: torch.device
    rank: int
    world: int
    step: _Step
    saver: _Checkpointer
    net: StyleNetwork
    total: int
    start: int
    elapsed: float
    losses: Losses
    balance: StyleBalance | None
    probes: list[np.ndarray]
    sample_photo: np.ndarray | None

    def __post_init__(self) -> None:
        self.completed = self.start

    @classmethod
    def prepare(cls, config: TrainConfig, resume: bool, warn: Callable[[str], None] | None) -> _Run:
        """Everything the first step needs: networks, loss, photos, and the state to resume."""
        device = select_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        _setup_distributed(device)
        rank, world = _world()
        if config.batch_size % world:
            problem = f"{{name}} {config.batch_size} must be divisible by {world} ranks"
            raise SettingsError("batch_size", problem)
        teacher = load_style(config.teacher, device) if config.teacher is not None else None
        init = load_style(config.init, device) if config.init is not None else None
        config = _with_init_network(config, init)
        if config.style_image is not None:
            style_image = read_image(config.style_image)
        else:
            style_image = teacher.style_image
        objective, vgg_source = _objective(config, style_image, teacher, device)
        sampler = PhotoSampler(config.data, config.image_size, config.seed, warn)
        total = config.iterations
        if config.epochs is not None:
            total = max(1, math.ceil(config.epochs * len(sampler) / config.batch_size))

        torch.manual_seed(config.seed)  # initial weights depend on the seed alone
        dilation = _dilation(config, init.net if init is not None else None)
        net = ARCHITECTURES[config.arch](config.width, config.blocks, dilation).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        start, elapsed, last_losses, steered = 0, 0.0, None, None
        if resume:
            start, elapsed, last_losses, steered = _resume(config, net, optimizer, device)
        elif init is not None:
            _start_from(net, init.net)
        probes: list[np.ndarray] = []
        if config.structure_target and objective.grams:
            objective.balance = StyleBalance(steered or config.style_weight, config.structure_target)
            probes = probe_photos(sampler.spread_images(PROBES))

        model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
        use_amp = mixed_precision(device, config.amp)
        step = _Step(
            config, model, optimizer, objective, sampler, device, rank, config.batch_size // world,
            select_dtype("auto", device) if use_amp else None,
            torch.amp.GradScaler(device.type, enabled=use_amp and device.type == "cuda"),
        )
        saver = _Checkpointer(
            config, net, optimizer, objective.balance, teacher, style_image, vgg_source, total, rank, world
        )
        # a run resumed at its last iteration trains no more: its file reports the saved losses
        losses = Losses(**last_losses) if last_losses else Losses(0, 0, 0, 0, 0, 0)
        sample_photo = _fixed_sample(config, sampler) if rank == 0 else None
        return cls(
            config, device, rank, world, step, saver, net, total, start, elapsed, losses,
            objective.balance, probes, sample_photo,
        )

    def after_step(
        self, progress: Callable[[int, int, Losses, float], None] | None, log: Callable[[str], None] | None
    ) -> None:
        """Steer the style weight, report, checkpoint and sample, as each is due."""
        done, config = self.completed, self.config
        if self.balance is not None and done % BALANCE_EVERY == 0:  # part of the step: before a stop
            self.balance.update(self.net, self.probes, self.device)
        if progress is not None:
            progress(done, self.total, self.losses, self.elapsed)
        if done % config.checkpoint_every == 0 or done == self.total:
            self.saver.checkpoint(done, self.elapsed, self.losses)
            if log is not None and done < self.total:
                log(f"checkpoint at iteration {done}: {config.checkpoint_path}{_steering(self.balance)}")
        if self.sample_photo is not None and _sample_due(done, self.total, config.sample_every):
            _write_sample(config, self.net, self.sample_photo, done, self.device)

    def stopped(self, stop: KeyboardInterrupt) -> Stopped:
        """Keep what a stopped run trained (a checkpoint and the weights so far) and say so."""
        code = Terminated.exit_code if isinstance(stop, Terminated) else 130
        if self.completed == 0:
            return Stopped("stopped before the first iteration finished: nothing written", exit_code=code)
        self.saver.checkpoint(self.completed, self.elapsed, self.losses)
        self.saver.weights(self.completed, self.elapsed, self.losses)
        return Stopped(
            f"stopped at iteration {self.completed}; weights so far in {self.config.output} "
            "(continue with {resume})",
            settings=("resume",),
            exit_code=code,
        )


def _with_init_network(config: TrainConfig, init: Style | None) -> TrainConfig:
    """``config`` with the architecture of the network it starts from, and its width and
    block count unless others are asked for."""
    if init is None:
        return config
    kind = init.info.arch
    blocks = int(kind["blocks"]) if config.blocks is None else config.blocks
    if config.dilation is not None and blocks <= int(kind["blocks"]):
        raise VidstyleError(
            f"{{dilation}} applies to the blocks a run adds: {{init}} {config.init} has "
            f"{kind['blocks']}, so ask for more {{blocks}}",
            settings=("dilation", "init", "blocks"),
        )
    width = int(kind["width"]) if config.width is None else config.width
    if width < int(kind["width"]):
        raise VidstyleError(
            f"{{width}} {width} is narrower than {{init}} {config.init} (width {kind['width']}): "
            "a run can add channels to a network, not remove them",
            settings=("width", "init"),
        )
    arch = str(kind.get("type", "johnson"))
    return dataclasses.replace(config, arch=arch, width=width, blocks=blocks)


def _objective(
    config: TrainConfig, style_image: np.ndarray, teacher: Style | None, device: torch.device
) -> tuple[_Objective, str | None]:
    """The run's loss (the style balance is added by the caller) and where its VGG came from."""
    style_layers = parse_layer_weights(config.style_layers)
    vgg, vgg_source, grams = None, None, {}
    if config.uses_vgg:
        layers = list(dict.fromkeys([*style_layers, config.content_layer]))
        vgg, vgg_source = _load_vgg(config, layers, device)
        if config.style_weight:
            grams = _style_grams(config, style_image, vgg, style_layers, device)
    painting_lab = torch.from_numpy(lab_pixels(style_image)).to(device) if config.palette_weight else None
    return _Objective(config, vgg, grams, style_layers, teacher, painting_lab, None), vgg_source


def mixed_precision(device: torch.device, amp: bool) -> bool:
    """Whether a run on ``device`` trains in mixed precision: with ``amp``, where inference
    would run in reduced precision too (:func:`~vidstyle.device.select_dtype`: fp16 on CUDA,
    bf16 where the CPU computes it natively; emulated, bf16 is many times slower than fp32)."""
    return amp and select_dtype("auto", device) != torch.float32


def _estimate(iterations: int, per_iteration: float, device: torch.device) -> str:
    """What a run expects to take, said before it goes on: machines differ several times
    over (a CPU without native bf16 trains about 3 times slower than one with it)."""
    minutes = iterations * per_iteration / 60
    took = f"{minutes:.0f} min" if minutes >= 1 else "under a minute"
    if minutes >= 90:
        took = f"{minutes // 60:.0f} h {minutes % 60:02.0f} min"
    where = "CPU" if device.type == "cpu" else device.type.upper()
    return f"about {took} for {iterations} iterations on this {where} ({1 / per_iteration:.2f} it/s so far)"


def _sample_due(done: int, total: int, every: int) -> bool:
    """Samples every ``every`` iterations, at the end, and an early one (:data:`FIRST_SAMPLE`)."""
    return done % every == 0 or done in (total, FIRST_SAMPLE)


def _style_name(config: TrainConfig, teacher: Style | None) -> str:
    return config.style_image.stem if config.style_image is not None else teacher.name


def _style_image_name(config: TrainConfig, teacher: Style | None) -> str | None:
    """The painting's file name, kept through distillation so evaluation finds it."""
    if config.style_image is not None:
        return config.style_image.name
    return teacher.info.metadata.get("style_image_name")


@torch.no_grad()
def _write_sample(
    config: TrainConfig, net: StyleNetwork, photo: np.ndarray, iteration: int, device: torch.device
) -> None:
    """Stylize the fixed sample photo so a run's progress can be looked at."""
    net.eval()
    out = to_images(net(to_tensor(photo, device)))[0]
    net.train()
    config.samples_dir.mkdir(parents=True, exist_ok=True)
    write_image(config.samples_dir / f"iter_{iteration:06d}.jpg", out, quality=90)
