"""High-quality mode: Gatys et al. (2016) optimisation per image, Ruder et al. (2016) across frames.

Each image or frame is optimised directly against VGG content and style losses. In a
video, every later frame starts from the previous result warped by optical flow (the
disoccluded pixels taken from the content frame) and a temporal loss keeps it close to
that warped result wherever the flow passes the consistency check, so the style does
not flicker. Finished frames are kept in a work directory so a long job can be resumed.
Encoding goes through :func:`vidstyle.jobs.stylize.stylize_media`, exactly
as in fast mode: :class:`HQStylizer` is a stateful :class:`~vidstyle.io.frames.Stylizer`.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..defaults import HQ_SIZE
from ..device import cpu_has_native_bf16, select_device
from ..errors import SettingsError, VidstyleError
from ..io.fileio import check_output_path
from ..io.images import is_image_path, read_image, resize_max, scaled_size, to_images, to_tensor, write_image
from ..io.sources import open_source
from ..models.vgg import VGGFeatures, layer_names
from ..progress import FrameProgress
from ..quality import lab_pixels
from ..settings import EncodingSettings, Limits, Look, NetworkSettings
from ..stylizers.base import BaseStylizer
from ..stylizers.factory import make_stylizer
from ..stylizers.fast import FastStylizer, resize_to
from ..stylizers.flow import FLOW_METHODS, consistent_flow, warp
from ..training import vgg_weights
from ..training.losses import (
    content_loss,
    gram_matrix,
    palette_directions,
    palette_loss_to,
    parse_layer_weights,
    sorted_projections,
    style_loss,
    tv_loss,
)
from ..weights import list_styles, load_style
from .stylize import StylizeResult, stylize_media
from .workdir import WorkDir as BaseWorkDir
from .workdir import check_work_folder

#: smallest feature map (pixels per side) the deepest VGG layer may see
MIN_FEATURE_SIDE = 4
#: optimiser steps between loss checks, snapshots and progress updates
CHUNK = 10
#: times a diverging (NaN/inf) stretch is retried, each with a 10x smaller step
MAX_RETRIES = 3
LEARNING_RATES = {"lbfgs": 1.0, "adam": 0.02}
#: precisions of the VGG passes: ``auto`` is bf16 on CPUs that compute it natively, else fp32
HQ_PRECISIONS = ("auto", "fp32", "bf16")
MANIFEST_VERSION = 1
#: the palette term's directions: fixed, so that the loss is one function of the image
PALETTE_SEED, PALETTE_DIRECTIONS = 0, 64
#: longest side at which ``--init fast`` compares the painting with the installed styles'
#: paintings (their weights files hold 256 px thumbnails)
MATCH_SIDE = 128
#: the mean relative Gram distance under which two paintings are the same: a painting and
#: its weights file's thumbnail are under 0.01 apart, two different paintings 0.5 or more
MATCH_DISTANCE = 0.05
_INIT_RE = re.compile(r"^(content|noise|blend:(?P<ratio>[0-9.]+)|(?P<net>fast)(:(?P<fast>.+))?)$")

Report = Callable[[int, int, float], None]
Size = tuple[int, int]


@dataclass(frozen=True)
class HQConfig:
    """Settings of an HQ job. The defaults give a good result without tuning.

    Losses are normalised (relative content/style losses, mean TV and temporal terms), so
    the weights behave the same at any image size. ``init`` is ``content``, ``noise``,
    ``blend:R`` (R = noise ratio), ``fast:NAME`` (a fast style network's output) or
    ``fast`` (the output of the installed network trained on this painting, else the
    content). The defaults are Gatys et al.'s: a start from the content and L-BFGS, coarse to
    fine over three scales (128, 256, 512 px), so that the painting's large motifs (swirls,
    bands of sky) form at a low resolution where they are cheap and wide, and are refined at
    full size; a palette term holds the painting's colours in their proportions. A fast
    network's output (``fast``) is quicker to refine but keeps that network's look: the
    few steps it allows change little more than its texture.
    ``size`` is the longest side optimised (never upscaled); ``scales`` > 1 optimises
    cold-started images coarse-to-fine, halving the size per extra scale, ``iterations``
    steps at each. ``warm_start``
    starts later video frames from the warped previous result (with ``iterations_next``
    steps); without it every frame starts like the first. ``precision`` is that of the VGG
    passes (:data:`HQ_PRECISIONS`).
    """

    vgg: str = "vgg16"
    vgg_weights: str | None = None
    content_layers: str = "relu4_2"
    style_layers: str = "relu1_1:1,relu2_1:1,relu3_1:1,relu4_1:1,relu5_1:1"
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    #: weight of the palette term (:func:`vidstyle.training.losses.palette_loss`, CIELAB units): the
    #: Gram matrices leave the colours' proportions loose, so a painting that is orange *and*
    #: blue-black came out mostly orange
    palette_weight: float = 0.04
    temporal_weight: float = 50.0
    pool: str = "avg"
    init: str = "content"
    optimizer: str = "lbfgs"
    iterations: int = 40
    #: a later frame starts from the previous result warped: 16 L-BFGS steps reach what 30
    #: did (style ratio 0.141 against 0.140, warping error 0.0032 against 0.0035) in half the time
    iterations_next: int = 16
    size: int | None = HQ_SIZE
    scales: int = 3
    precision: str = "auto"
    seed: int = 0
    flow: str = "dis"
    warm_start: bool = True
    #: Adam's epsilon, as a multiple of the mean gradient magnitude at the first step (0:
    #: PyTorch's 1e-8). Adam moves every pixel by about the learning rate whatever the size
    #: of its gradient, so flat regions, where the gradient is tiny and follows VGG's
    #: pooling grid, grew a fine diamond texture; with an epsilon of a few typical
    #: gradients, small ones move their pixels in proportion (tubingen x udnie: 0 and 0.3
    #: left the texture in the sky, 1 less, 3 none)
    adam_eps: float = 3.0

    def __post_init__(self) -> None:
        """Reject bad settings up front rather than after minutes of optimisation."""
        if self.vgg not in ("vgg16", "vgg19"):
            raise SettingsError("vgg", f"must be vgg16 or vgg19, not {self.vgg!r}")
        for field in ("content_layers", "style_layers"):
            self._check_layers(field)
        weights = ("content_weight", "style_weight", "tv_weight", "palette_weight", "temporal_weight")
        for name in (*weights, "adam_eps"):
            if not getattr(self, name) >= 0:
                raise SettingsError(name, "must be >= 0")
        if self.pool not in ("max", "avg"):
            raise SettingsError("pool", f"must be max or avg, not {self.pool!r}")
        match = _INIT_RE.match(self.init)
        if match is None or (match["ratio"] is not None and not 0 <= float(match["ratio"]) <= 1):
            raise SettingsError(
                "init", f"must be content, noise, blend:R (0<=R<=1), fast or fast:NAME, not {self.init!r}"
            )
        if self.optimizer not in LEARNING_RATES:
            raise SettingsError("optimizer", f"must be lbfgs or adam, not {self.optimizer!r}")
        for name in ("iterations", "iterations_next", "scales"):
            if getattr(self, name) < 1:
                raise SettingsError(name, "must be at least 1")
        if self.precision not in HQ_PRECISIONS:
            choices = ", ".join(HQ_PRECISIONS)
            raise SettingsError("precision", f"HQ mode's {{name}} must be {choices}, not {self.precision!r}")
        if self.size is not None and self.size < 1:
            raise SettingsError("size", "must be positive")
        if self.flow not in FLOW_METHODS:
            raise SettingsError("flow", f"must be one of {', '.join(FLOW_METHODS)}, not {self.flow!r}")

    def _check_layers(self, field: str) -> None:
        """The layer weights of ``field``: known layers of ``vgg``, weights >= 0, a positive sum."""
        try:
            layers = parse_layer_weights(getattr(self, field))
        except ValueError as exc:
            raise SettingsError(field, f"{{name}}: {exc}") from None
        unknown = [n for n in layers if n not in layer_names(self.vgg)]
        if unknown:
            raise SettingsError(field, f"{{name}}: unknown {self.vgg} layer(s) {', '.join(unknown)}")
        if any(w < 0 for w in layers.values()) or sum(layers.values()) <= 0:
            raise SettingsError(field, "{name}: layer weights must be >= 0 with a positive sum")


@dataclass
class Targets:
    """What one optimisation pulls towards: content activations, style Grams, warped frame."""

    content: dict[str, torch.Tensor]
    grams: dict[str, torch.Tensor]
    warped: torch.Tensor | None = None  # previous result moved onto this frame
    mask: torch.Tensor | None = None  # 1 where the flow is consistent


def load_style_image(style: str | Path) -> tuple[np.ndarray, str]:
    """The style image and a name for it: an image file, or a style weights file / shipped name."""
    if is_image_path(Path(style)):
        return read_image(Path(style)), Path(style).stem
    loaded = load_style(style)
    if min(loaded.style_image.shape[:2]) < 2:
        raise VidstyleError(f"style {loaded.name} carries no style image; pass a style image path instead")
    return loaded.style_image, loaded.name


def load_vgg(config: HQConfig, layers: list[str], device: torch.device) -> VGGFeatures:
    """The frozen loss network with real weights (a clear error when none are available)."""
    explicit = Path(config.vgg_weights) if config.vgg_weights else None
    weights = vgg_weights.load(config.vgg, explicit)
    return VGGFeatures(config.vgg, layers, weights.state_dict, pool=config.pool).to(device)  # type: ignore[arg-type]


class Cancelled(Exception):
    """An optimisation stopped by :meth:`HQStylizer.cancel` (the job is being interrupted)."""


class Gatys:
    """Optimises images against content, style, total-variation and temporal losses.

    ``vgg`` may be given (tests use a randomly initialised one); it must return at least
    the configured layers.
    """

    def __init__(
        self,
        config: HQConfig,
        style_image: np.ndarray,
        device: torch.device,
        vgg: VGGFeatures | None = None,
    ) -> None:
        self.config, self.style_image, self.device = config, style_image, device
        self.content_layers = parse_layer_weights(config.content_layers)
        self.style_layers = parse_layer_weights(config.style_layers)
        layers = list(dict.fromkeys([*self.content_layers, *self.style_layers]))
        self.vgg = vgg if vgg is not None else load_vgg(config, layers, device)
        deepest = max(layers, key=layer_names(config.vgg).index)
        self.min_side = MIN_FEATURE_SIDE * 2 ** (int(deepest[len("relu") :].split("_")[0]) - 1)
        self._deepest = deepest
        self._grams: dict[int, dict[str, torch.Tensor]] = {}
        self.autocast = vgg_autocast(config.precision, device)
        init = _INIT_RE.match(config.init)
        assert init is not None  # validated by HQConfig
        self.init = init
        #: set from another thread to stop an optimisation at its next loss evaluation
        self.cancelled = threading.Event()

    def check_size(self, shape: tuple[int, ...]) -> None:
        """Refuse images (``shape`` H x W...) whose deepest VGG activations would be degenerate."""
        h, w = shape[0], shape[1]
        if min(h, w) < self.min_side:
            raise VidstyleError(
                f"content image {w}x{h} is too small for VGG layer {self._deepest} "
                f"(needs at least {self.min_side} px per side)"
            )

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """VGG activations of ``x``, in bf16 where ``config.precision`` asks for it (the losses
        cast them back to fp32); targets and the optimised image go through the same path."""
        if self.autocast is None:
            return self.vgg(x)
        with torch.autocast(self.device.type, dtype=self.autocast):
            return self.vgg(x)

    def style_grams(self, longest: int) -> dict[str, torch.Tensor]:
        """Style Gram matrices with the style image at the content's scale (cached per size)."""
        if longest not in self._grams:
            style = resize_max(self.style_image, longest)
            with torch.no_grad():
                feats = self.features(to_tensor(style, self.device))
            self._grams[longest] = {k: gram_matrix(feats[k]) for k in self.style_layers}
        return self._grams[longest]

    def targets(self, content: torch.Tensor) -> Targets:
        with torch.no_grad():
            feats = self.features(content)
        return Targets({k: feats[k] for k in self.content_layers}, self.style_grams(max(content.shape[-2:])))

    def loss(self, x: torch.Tensor, targets: Targets) -> torch.Tensor:
        """The weighted total loss of image ``x`` (1 x 3 x H x W)."""
        c = self.config
        feats = self.features(x)
        content = sum(w * content_loss(feats[k], targets.content[k]) for k, w in self.content_layers.items())
        total = c.content_weight * content / sum(self.content_layers.values())
        total = total + c.style_weight * style_loss(feats, targets.grams, self.style_layers)
        total = total + c.tv_weight * tv_loss(x)
        if c.palette_weight > 0:
            total = total + c.palette_weight * palette_loss_to(x, *self.palette_target)
        if targets.warped is not None and targets.mask is not None and c.temporal_weight > 0:
            total = total + c.temporal_weight * (targets.mask * (x - targets.warped).pow(2)).mean()
        return total

    def initial(self, content: torch.Tensor, size: Size, seed: int) -> torch.Tensor:
        """The starting image given by ``config.init`` for a cold start, at ``size``.

        A fast network paints ``content`` as given (the size the result is judged at) and its
        output is then shrunk: its strokes are sized for the image it sees, so painting the
        coarse level instead would give strokes too large for the final image.
        """
        if self.network is not None:
            return _resize(self.network.stylize_tensor(content), size)
        content = _resize(content, size)
        if self.config.init == "content" or self.init["net"] is not None:
            return content.clone()
        ratio = 1.0 if self.config.init == "noise" else float(self.init["ratio"])
        generator = torch.Generator().manual_seed(seed)
        noise = torch.rand(content.shape, generator=generator).to(content)
        return ratio * noise + (1 - ratio) * content

    def fill(self, content: np.ndarray) -> np.ndarray:
        """What a warm start takes where the flow found no earlier pixel: the fast network's
        output when the start is one (already stylized, so few steps finish it), else the frame."""
        if self.network is None:
            return content
        return to_images(self.network.stylize_tensor(to_tensor(content, self.device)))[0]

    @cached_property
    def palette_target(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The palette term's painting side: its CIELAB pixels' sorted projections onto fixed
        directions (one loss for L-BFGS's line search), and those directions; computed once."""
        directions = palette_directions(torch.Generator().manual_seed(PALETTE_SEED), PALETTE_DIRECTIONS)
        painting_lab = torch.from_numpy(lab_pixels(self.style_image)).to(self.device)
        return sorted_projections(painting_lab, directions), directions.to(self.device)

    @cached_property
    def network(self) -> FastStylizer | None:
        """The fast network that cold starts begin from (None: the init is not a network):
        NAME's for ``fast:NAME``, for plain ``fast`` the one trained on this painting."""
        if self.init["net"] is None:
            return None
        path = self.init["fast"] or self.matching_style()
        if path is None:
            return None
        return make_stylizer(NetworkSettings(path, device=str(self.device), temporal=0.0))

    def matching_style(self) -> Path | None:
        """The installed style network trained on this painting, if any: the one whose weights
        file holds a painting within :data:`MATCH_DISTANCE` of it (mean relative Gram
        distance over the style layers, both at :data:`MATCH_SIDE`).

        Another painting's network is no good start: its strokes and colours cross the
        scene's edges and the few refining steps leave them there.
        """

        def grams(image: np.ndarray) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                feats = self.features(to_tensor(resize_max(image, MATCH_SIDE), self.device))
            return {k: gram_matrix(feats[k]) for k in self.style_layers}

        target = grams(self.style_image)
        for info in list_styles():
            thumbnail = load_style(info.path).style_image
            if min(thumbnail.shape[:2]) < 2:
                continue
            g = grams(thumbnail)
            distance = sum(
                w * float((g[k] - target[k]).pow(2).sum() / target[k].pow(2).sum())
                for k, w in self.style_layers.items()
            )
            if distance / sum(self.style_layers.values()) < MATCH_DISTANCE:
                return info.path
        return None

    def optimise(
        self, start: torch.Tensor, targets: Targets, iterations: int, report: Report
    ) -> tuple[torch.Tensor, float]:
        """Run ``iterations`` optimiser steps from ``start``; returns the image and its loss.

        Every :data:`CHUNK` steps the loss is checked: a NaN/inf loss or image discards the
        stretch and retries it from the last good image with a 10x smaller step, up to
        :data:`MAX_RETRIES` times, then fails; a non-finite image is never returned.
        """
        lr = LEARNING_RATES[self.config.optimizer]
        good = start.detach().contiguous(memory_format=torch.contiguous_format).clone()  # L-BFGS views grads
        x = good.clone().requires_grad_(True)
        optimizer = self._optimizer(x, lr)
        done, retries, loss = 0, 0, math.nan
        while done < iterations:
            steps = min(CHUNK, iterations - done)
            loss = self._steps(optimizer, x, targets, steps)
            if not math.isfinite(loss) or not bool(torch.isfinite(x).all()):
                retries += 1
                if retries > MAX_RETRIES:
                    raise VidstyleError(
                        "HQ optimisation diverged (NaN/inf loss) even with a smaller step; "
                        "try {optimizer} adam or a lower {style_weight}",
                        settings=("optimizer", "style_weight"),
                    )
                lr /= 10
                with torch.no_grad():
                    x.copy_(good)
                optimizer = self._optimizer(x, lr)
                continue
            with torch.no_grad():
                x.clamp_(0, 1)
                good = x.detach().clone()
            done += steps
            report(done, iterations, loss)
        return good, loss

    def _optimizer(self, x: torch.Tensor, lr: float) -> torch.optim.Optimizer:
        if self.config.optimizer == "adam":
            return torch.optim.Adam([x], lr=lr)
        return torch.optim.LBFGS([x], lr=lr, max_iter=CHUNK, history_size=50, line_search_fn="strong_wolfe")

    def _steps(
        self, optimizer: torch.optim.Optimizer, x: torch.Tensor, targets: Targets, steps: int
    ) -> float:
        """``steps`` optimiser iterations; the last loss evaluated (NaN/inf stops early)."""
        last = [math.nan]

        def closure() -> torch.Tensor:
            if self.cancelled.is_set():
                raise Cancelled
            optimizer.zero_grad()
            loss = self.loss(x, targets)
            loss.backward()
            last[0] = float(loss.detach())
            return loss

        if isinstance(optimizer, torch.optim.LBFGS):
            optimizer.param_groups[0]["max_iter"] = steps
            optimizer.step(closure)
            return last[0]
        for _ in range(steps):
            closure()
            if not math.isfinite(last[0]):
                break
            if self.config.adam_eps and not optimizer.state[x]:  # before Adam's first step
                optimizer.param_groups[0]["eps"] = self.config.adam_eps * float(x.grad.abs().mean())
            optimizer.step()
        return last[0]

    def stylize(
        self,
        content: np.ndarray,
        *,
        start: np.ndarray | None = None,
        previous: tuple[np.ndarray, np.ndarray] | None = None,
        iterations: int | None = None,
        seed: int | None = None,
        report: Report | None = None,
    ) -> tuple[np.ndarray, float]:
        """Stylize ``content`` (RGB uint8); returns the result (same size) and its final loss.

        ``start`` is a warm start (else ``config.init``, coarse-to-fine over
        ``config.scales``); ``previous`` is ``(warped previous result, consistency mask)``
        for the temporal loss.
        """
        self.check_size(content.shape)
        report = report or (lambda done, total, loss: None)
        iterations = iterations or self.config.iterations
        full = to_tensor(content, self.device)
        if start is not None:
            sizes, x = [(content.shape[0], content.shape[1])], to_tensor(start, self.device)
        else:
            sizes = self._scale_sizes(content.shape[:2])
            x = self.initial(full, sizes[0], self.config.seed if seed is None else seed)
        loss = math.nan
        for k, size in enumerate(sizes):
            targets = self.targets(_resize(full, size))
            x = _resize(x, size)
            if previous is not None and k == len(sizes) - 1:
                targets.warped = to_tensor(previous[0], self.device)
                targets.mask = torch.from_numpy(previous[1]).to(self.device)[None, None]

            def scaled_report(done: int, total: int, value: float, k: int = k) -> None:
                report(k * iterations + done, len(sizes) * iterations, value)

            x, loss = self.optimise(x, targets, iterations, scaled_report)
        return to_images(x)[0], loss

    def _scale_sizes(self, shape: tuple[int, ...]) -> list[Size]:
        """Sizes of the coarse-to-fine pyramid, coarsest first, skipping too-small ones."""
        h, w = shape[0], shape[1]
        sizes = []
        for k in range(self.config.scales - 1, -1, -1):
            size = (max(1, round(h / 2**k)), max(1, round(w / 2**k)))
            if min(size) >= self.min_side:
                sizes.append(size)
        return sizes


def _resize(image: torch.Tensor, size: Size) -> torch.Tensor:
    """``image`` (N x 3 x H x W) at ``size``: area averaging to shrink, bilinear to enlarge."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if image.shape[-2] > size[0]:
        return F.interpolate(image, size=size, mode="area")
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


def vgg_autocast(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the VGG passes (None: fp32). ``auto`` takes bf16 only on CPUs
    that compute it natively, where a loss and gradient at 640x360 took a quarter of the
    fp32 time (with no change in the results); elsewhere it is emulated and slower."""
    if precision == "bf16" or (precision == "auto" and device.type == "cpu" and cpu_has_native_bf16()):
        return torch.bfloat16
    return None


class WorkDir(BaseWorkDir):
    """HQ's resumable state: finished frames as PNGs, numbered from 1.

    A frame file is complete or absent (written atomically), so a kill loses at most the
    frame being optimised. Only frames the manifest records are read back or removed.
    """

    noun = "frames"

    def frame_name(self, index: int) -> str:
        return f"frame_{index + 1:06d}.png"

    def frame_path(self, index: int) -> Path:
        return self.path / self.frame_name(index)

    def has(self, index: int) -> bool:
        """Whether frame ``index`` is finished: recorded as this job's and in place."""
        return self.owns(self.frame_name(index)) and self.frame_path(index).is_file()

    def finished(self) -> int:
        """How many frames are done, counting from the first."""
        count = 0
        while self.has(count):
            count += 1
        return count

    def load(self, index: int) -> np.ndarray | None:
        return read_image(self.frame_path(index)) if self.has(index) else None

    def save(self, index: int, image: np.ndarray) -> None:
        self.claim(self.frame_name(index))
        write_image(self.frame_path(index), image)


class HQStylizer(BaseStylizer):
    """A stateful :class:`~vidstyle.io.frames.Stylizer`: call it with frames in order.

    Each frame is optimised at ``config.size`` (:meth:`finish` brings the result to the
    frame's size and look), warm-started and temporally tied to the previous one. Frames already in the
    work directory are read back instead of recomputed, so a rerun resumes.
    """

    def __init__(
        self,
        engine: Gatys,
        work: WorkDir | None = None,
        *,
        total: int | None = None,
        progress: FrameProgress | None = None,
        name: str = "hq",
    ) -> None:
        self.engine, self.work, self.config = engine, work, engine.config
        self.total, self.progress = total, progress
        self.device, self.name = engine.device, name
        self.index = 0
        self.computed_seconds: list[float] = []
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # (raw result, source)
        # optimiser steps done by this run (not read back from the work directory), for the ETA
        self._steps = 0
        self._step_seconds = 0.0

    def paint(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Each frame's optimised picture, at the size it was optimised at."""
        return [self._one(frame) for frame in frames]

    def finish(self, painted: np.ndarray, source: np.ndarray, look: Look) -> np.ndarray:
        """The output for ``source``: its picture at the frame's size, in ``look``."""
        height, width = source.shape[:2]
        return super().finish(resize_to(painted, width, height), source, look)

    def cancel(self) -> None:
        """Stop the frame in progress within one optimiser step (Ctrl-C); finished frames stay."""
        self.engine.cancelled.set()

    def _one(self, frame: np.ndarray) -> np.ndarray:
        index = self.index
        content = resize_max(frame, self.config.size)
        raw = self.work.load(index) if self.work is not None else None
        if raw is not None and raw.shape != content.shape:
            raise VidstyleError(
                f"finished frame {index + 1} of the work directory has another size; use {{restart}}",
                settings=("restart",),
            )
        if raw is None:
            start = time.monotonic()
            raw = self._compute(content, index)
            if self.work is not None:
                self.work.save(index, raw)
            self.computed_seconds.append(time.monotonic() - start)
        self._previous = (raw, content)
        self.index += 1
        self._show(self.index)
        return raw

    def _compute(self, content: np.ndarray, index: int) -> np.ndarray:
        """Optimise one frame, warm-started from the previous one when there is one."""

        began, steps_before = time.monotonic(), self._steps
        seconds_before = self._step_seconds

        def report(done: int, total: int, loss: float) -> None:
            self._steps = steps_before + done
            self._step_seconds = seconds_before + time.monotonic() - began
            self._show(index, f"step {done}/{total}", loss, steps_left=total - done)

        if self._previous is None:
            return self.engine.stylize(content, seed=self.config.seed + index, report=report)[0]
        prev_raw, prev_src = self._previous
        flow, mask = consistent_flow(content, prev_src, self.config.flow)  # type: ignore[arg-type]
        warped = warp(prev_raw, flow)
        if not self.config.warm_start:
            return self.engine.stylize(
                content, previous=(warped, mask), seed=self.config.seed + index, report=report
            )[0]
        keep = mask[..., None]
        start = (keep * warped + (1 - keep) * self.engine.fill(content)).round().astype(np.uint8)
        return self.engine.stylize(
            content,
            start=start,
            previous=(warped, mask),
            iterations=self.config.iterations_next,
            report=report,
        )[0]

    def _show(
        self, done: int, step: str | None = None, loss: float | None = None, steps_left: int = 0
    ) -> None:
        """Progress: frame i/N, optimiser step, loss, s/frame; one ETA from the steps still to do."""
        if self.progress is None:
            return
        frame = min(done + 1, self.total or done + 1)
        parts = [f"frame {frame}" + (f"/{self.total}" if self.total else "")]
        if step is not None:
            parts.append(step)
        if loss is not None:
            parts.append(f"loss {loss:.4g}")
        if self.computed_seconds:
            parts.append(f"{sum(self.computed_seconds) / len(self.computed_seconds):.1f} s/frame")
        eta = None
        if self.total and self._steps:
            later = self.total - done - (step is not None)  # frames not yet started
            eta = self._step_seconds / self._steps * (steps_left + max(0, later) * self._later_steps())
        self.progress.show(done, self.total, " ".join(parts), eta=eta)

    def _later_steps(self) -> int:
        """Optimiser steps of a frame after the first (warm-started: fewer, one scale)."""
        if self.config.warm_start:
            return self.config.iterations_next
        return self.config.iterations * self.config.scales


def default_work_dir(output: Path) -> Path:
    """Beside the output: ``OUTPUT.hq-work``."""
    return Path(output).with_name(Path(output).name + ".hq-work")


def manifest(config: HQConfig, input: Path, style_image: np.ndarray, max_size: int | None) -> dict[str, Any]:
    """Everything a finished frame depends on (not its :class:`~vidstyle.settings.Look`)."""
    input = Path(input)
    return {
        "version": MANIFEST_VERSION,
        "input": {"path": str(input.resolve()), "bytes": input.stat().st_size},
        "max_size": max_size,
        "style_sha256": hashlib.sha256(np.ascontiguousarray(style_image).tobytes()).hexdigest(),
        "style_shape": list(style_image.shape),
        "settings": asdict(config),
    }


def open_hq_stylizer(
    style: str | Path,
    config: HQConfig,
    *,
    input: Path,
    device: str = "auto",
    max_size: int | None = None,
    work_dir: Path | None = None,
    restart: bool = False,
    shape: tuple[int, int] | None = None,
    total: int | None = None,
    progress: FrameProgress | None = None,
    vgg: VGGFeatures | None = None,
) -> HQStylizer:
    """The HQ stylizer that paints the frames of ``input`` towards ``style`` (a painting, or
    an installed style's painting): the one way whole-video and segment jobs make one.

    Frames finished in ``work_dir`` (when given) are read back instead of recomputed, if
    they were made with the same settings (``restart``: drop any that were not). ``shape``,
    the (height, width) frames are optimised at where the caller knows it, is checked
    against the network's smallest size before the work directory is touched.
    """
    painting, name = load_style_image(style)
    engine = Gatys(config, painting, select_device(device), vgg)
    if shape is not None:
        engine.check_size(shape)
    work = None
    if work_dir is not None:
        work = WorkDir(work_dir, manifest(config, Path(input), painting, max_size), restart)
    return HQStylizer(engine, work, total=total, progress=progress, name=f"hq:{name}")


def stylize_hq(
    input: Path,
    output: Path,
    style: str | Path,
    config: HQConfig | None = None,
    *,
    work_dir: Path | None = None,
    restart: bool = False,
    keep_work: bool = False,
    device: str = "auto",
    look: Look = Look(),
    limits: Limits = Limits(),
    encoding: EncodingSettings = EncodingSettings(),
    overwrite: bool = False,
    progress: bool = True,
    vgg: VGGFeatures | None = None,
) -> StylizeResult:
    """Stylize a video or image in HQ mode, resuming from ``work_dir`` (default beside output).

    The work directory is removed after a successful run unless ``keep_work``. Frames are
    finished in ``look``, taken within ``limits`` and encoded with ``encoding``, as in fast
    mode (:func:`~vidstyle.jobs.stylize.stylize_media`).
    """
    input, output = Path(input), Path(output)
    config = config or HQConfig()
    if not input.is_file():
        raise VidstyleError(f"input not found: {input}")
    style_file = (Path(style),) if Path(style).is_file() else ()  # a painting, never to be replaced
    check_output_path(output, inputs=(input, *style_file), overwrite=overwrite)
    work_dir = work_dir or default_work_dir(output)
    check_work_folder(work_dir)
    with open_source(input, max_frames=limits.max_frames) as source:
        total, width, height = source.info.frame_count, source.info.width, source.info.height
    for limit in (limits.max_size, config.size):
        width, height = scaled_size(width, height, limit)
    with FrameProgress(total, description="hq", enabled=progress) as bar:
        stylizer = open_hq_stylizer(
            style,
            config,
            input=input,
            device=device,
            max_size=limits.max_size,
            work_dir=work_dir,
            restart=restart,
            shape=(height, width),
            total=total,
            progress=bar,
            vgg=vgg,
        )
        result = stylize_media(
            input,
            output,
            stylizer,
            look=look,
            limits=limits,
            encoding=encoding,
            overwrite=overwrite,
            progress=False,
        )
    if not keep_work and stylizer.work is not None:
        stylizer.work.remove()
    return result


__all__ = [
    "HQConfig", "Gatys", "HQStylizer", "WorkDir", "open_hq_stylizer", "stylize_hq", "load_style_image",
    "default_work_dir",
]
