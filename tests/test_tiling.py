"""Tiled inference: tiles normalised with the whole frame's statistics join without seams."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_style

from vidstyle.errors import VidstyleError
from vidstyle.io.images import to_images, to_tensor
from vidstyle.models import LiteTransformerNet, TransformerNet
from vidstyle.stylizers import tiling
from vidstyle.stylizers.fast import FastStylizer, resize_to

#: the shipped sizes: starry_night_lite and starry_night
SHIPPED = {"lite": (8, 2), "johnson": (16, 5)}
TILE = 64


def photo(height: int = 200, width: int = 300) -> np.ndarray:
    """A synthetic frame whose statistics change across it (dark to bright, smooth to
    busy), so that tiles normalised on their own would differ."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, width)[None, :, None]
    noise = rng.random((height, width, 3)) * ramp
    shapes = np.sin(np.arange(height)[:, None, None] / 9) * np.cos(np.arange(width)[None, :, None] / 13)
    return np.clip(255 * (0.2 + 0.5 * ramp + 0.2 * shapes + 0.3 * noise), 0, 255).astype(np.uint8)


def smooth(height: int = 200, width: int = 300) -> np.ndarray:
    """A frame without texture, so that any step at a tile border stands out."""
    yy, xx = np.mgrid[0:height, 0:width]
    channels = [xx / width, yy / height, 0.5 + 0.3 * np.sin(xx / 37 + yy / 23)]
    return (255 * (0.1 + 0.8 * np.stack(channels, -1))).astype(np.uint8)


@pytest.fixture(params=list(SHIPPED))
def style(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    arch, (width, blocks) = request.param, SHIPPED[request.param]
    return make_style(tmp_path / f"{arch}.safetensors", arch=arch, width=width, blocks=blocks)


def stylize(style: Path, image: np.ndarray, tile: int | str | None, precision: str = "fp32") -> np.ndarray:
    return FastStylizer(style, device="cpu", precision=precision, style_scale=1, tile=tile)([image])[0]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_tiles_equal_the_whole_frame_when_the_statistics_are_exact(
    style: Path, precision: str, one_thread: None
) -> None:
    """A frame within STATS_PIXELS gives the tiles its own statistics: the halo covers the
    receptive field, so each core is the whole-frame output there, to float rounding.

    In fp32 tiles and whole frame agree exactly. In bf16 they agree exactly where oneDNN
    runs the same convolution kernel for a tile as for the frame; on CPUs with AMX it picks
    the kernel's blocking by the input's size, so the residual blocks' 3x3 convolutions of
    a tile and of the frame round the same sum to bf16 differently now and then (one unit
    in the last place) and the classic network carries that to the output: up to 3 levels,
    0.04-0.06 on average, against 17 and 0.66 between its bf16 and fp32 whole frames."""
    image = photo()
    whole = stylize(style, image, None, precision).astype(int)
    most, mean = (1, 0.01) if precision == "fp32" else (4, 0.1)
    for tile in (TILE, 100):
        tiled = stylize(style, image, tile, precision).astype(int)
        assert np.abs(tiled - whole).max() <= most
        assert np.abs(tiled - whole).mean() < mean


def test_auto_tiles_frames_beyond_one_pass(style: Path, one_thread: None, monkeypatch) -> None:
    stylizer = FastStylizer(style, device="cpu", precision="fp32", style_scale=1)
    assert stylizer.tile == "auto" and stylizer.tile_core(300, 200) is None  # fits one pass
    pixel_bytes = tiling.ACTIVATION_COPIES * tiling.widest_layer(stylizer.net) * 4  # fp32
    monkeypatch.setattr(tiling, "PASS_BYTES", 50_000 * pixel_bytes)  # under its 60,000 pixels
    core = stylizer.tile_core(300, 200)
    assert core == tiling.auto_core(stylizer.net, torch.float32, tiling.pass_bytes("cpu"))
    assert (core + 2 * tiling.halo(stylizer.net)) ** 2 <= 50_000  # a tile's window fits one pass
    image = photo()
    assert np.array_equal(stylizer([image])[0], stylize(style, image, core))


def test_a_gpu_pass_may_take_a_share_of_its_free_memory(monkeypatch) -> None:
    """On a GPU a whole frame goes through in one pass as long as a quarter of the card's
    free memory holds it; a nearly full card still gets the CPU's budget."""
    free = {"bytes": 16 * 2**30}
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free["bytes"], 80 * 2**30))
    assert tiling.pass_bytes("cpu") == tiling.PASS_BYTES
    assert tiling.pass_bytes("cuda") == 4 * 2**30
    free["bytes"] = 2**30
    assert tiling.pass_bytes("cuda") == tiling.PASS_BYTES


def border_gradients(image: np.ndarray, axis: int) -> tuple[float, float]:
    """The largest mean absolute step across a tile border along ``axis``, and the 95th
    percentile of the steps between every other pair of neighbouring rows or columns.

    Steps are taken between 2x2 means: the lite network's pixel shuffle gives neighbouring
    pixels unrelated values when its weights are random (tile borders fall between pairs).
    """
    height, width = image.shape[0] // 2, image.shape[1] // 2
    means = image[: 2 * height, : 2 * width].reshape(height, 2, width, 2, 3).mean((1, 3))
    steps = np.abs(np.diff(means, axis=axis)).mean(axis=(1 - axis, 2))
    borders = [core.start // 2 - 1 for _, core in tiling.spans(image.shape[axis], TILE, 0, 4)][1:]
    at_border = np.zeros(len(steps), bool)
    at_border[borders] = True
    return steps[at_border].max(), np.percentile(steps[~at_border], 95)


def test_no_seams_with_sampled_statistics(style: Path, one_thread: None, monkeypatch) -> None:
    """A frame beyond STATS_PIXELS is normalised with crops' statistics: tile borders step no
    more than neighbouring pixels elsewhere, where tiles normalised on their own do."""
    monkeypatch.setattr(tiling, "STATS_PIXELS", 20_000)
    monkeypatch.setattr(tiling, "STATS_CROP", 32)
    image = smooth()
    tiled = stylize(style, image, TILE)
    naive = np.empty_like(image)
    for tile in tiling.tiles(200, 300, TILE, 64, 4):
        naive[tile.core] = stylize(style, image[tile.window], None)[tile.crop]
    for axis in (0, 1):
        border, elsewhere = border_gradients(tiled, axis)
        assert border <= 1.2 * elsewhere
        border, elsewhere = border_gradients(naive, axis)
        assert border > 1.5 * elsewhere  # the measure does see seams


def test_normal_frames_take_the_plain_path(style: Path, one_thread: None) -> None:
    """Below the threshold the output is the network's on the whole frame, as before tiling."""
    frame = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    stylizer = FastStylizer(style, device="cpu")
    assert stylizer.tile_core(*stylizer.network_size(64, 48)) is None
    enlarged = resize_to(frame, *stylizer.network_size(64, 48))
    expected = resize_to(to_images(stylizer.stylize_tensor(to_tensor(enlarged)))[0], 64, 48)
    assert np.array_equal(stylizer([frame])[0], expected)


def test_workers_tile_frames_side_by_side(tmp_path: Path, one_thread: None) -> None:
    """Each tiled frame holds its statistics in its own copy of the network."""
    style = make_style(tmp_path / "lite.safetensors", arch="lite")
    stylizer = FastStylizer(style, device="cpu", precision="fp32", style_scale=1, tile=TILE)
    frames = [photo(), photo()[::-1].copy(), photo()[:, ::-1].copy()]
    alone = [stylizer([f])[0] for f in frames]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda f: stylizer([f])[0], frames))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))


@pytest.mark.parametrize(
    ("cls", "size"),
    [
        (LiteTransformerNet, SHIPPED["lite"]),
        (TransformerNet, SHIPPED["johnson"]),
        (LiteTransformerNet, (8, 4, (1, 1, 4, 4))),
    ],
)
def test_halo_covers_the_measured_receptive_field(cls: type, size: tuple) -> None:
    """With fixed statistics, one changed input pixel moves output pixels only within the
    computed radius (and the radius is tight: it moves some at least 80% that far); dilated
    blocks included."""
    torch.manual_seed(0)
    net = cls(*size).double().eval()
    x = torch.rand(1, 3, 160, 160, dtype=torch.float64)
    reach = 0
    with torch.no_grad():
        tiling.fix_statistics(net, x)
        base = net(x)
        for y0, x0 in ((80, 80), (81, 82), (83, 83)):
            changed = x.clone()
            changed[..., y0, x0] += 0.5
            ys, xs = torch.nonzero((net(changed) - base).abs().amax(1)[0] > 0, as_tuple=True)
            reach = max(reach, int((ys - y0).abs().max()), int((xs - x0).abs().max()))
    radius = tiling.receptive_radius(net)
    assert 0.8 * radius <= reach <= radius <= tiling.halo(net)
    assert tiling.halo(net) % net.multiple == 0


@pytest.mark.parametrize("size", [1, 7, 64, 300, 1001])
def test_spans_cover_the_frame_on_the_network_grid(size: int) -> None:
    spans = tiling.spans(size, TILE, 28, 4)
    cores = [core for _, core in spans]
    assert cores[0].start == 0 and cores[-1].stop == size
    assert all(a.stop == b.start and a.start % 4 == 0 for a, b in zip(cores, cores[1:], strict=False))
    assert all(c.stop - c.start <= TILE + 3 for c in cores)
    for window, core in spans:
        assert window.start == max(0, core.start - 28) and window.stop == min(size, core.stop + 28)


def test_statistics_sample(monkeypatch) -> None:
    image = photo()
    assert tiling.stats_sample(image, 60_000, 4).shape == (1, 200, 300, 3)  # the frame itself
    monkeypatch.setattr(tiling, "STATS_CROP", 32)
    sample = tiling.stats_sample(image, 20_000, 4)
    assert sample.shape[1:] == (32, 32, 3) and 12 <= len(sample) <= 20
    assert np.array_equal(sample, tiling.stats_sample(image, 20_000, 4))  # the same every frame
    means = sample.mean((1, 2, 3))
    assert len(np.unique(means)) == len(sample)  # crops in different places
    assert means.min() < image[:, :100].mean() and means.max() > image[:, -100:].mean()  # all over


@pytest.mark.parametrize("bad", [0, -64, 1.5, True, "big"])
def test_bad_tile_setting_is_refused(tiny_style: Path, bad: object) -> None:
    with pytest.raises(VidstyleError, match="tile must be"):
        FastStylizer(tiny_style, device="cpu", tile=bad)  # type: ignore[arg-type]
