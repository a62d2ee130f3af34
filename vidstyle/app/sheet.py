"""Every style on one photo: ``vidstyle sheet``'s labelled contact sheet, and the web app's
style thumbnails (the bundled clip's first frame in each style, made once and cached)."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import VidstyleError
from ..io.fileio import check_output_path
from ..io.images import read_image, resize_max, write_image
from ..io.sources import open_source
from ..jobs.stylize import DEMO_CLIP
from ..settings import NetworkSettings
from ..stylizers.factory import make_stylizer
from ..weights import StyleInfo, list_styles

#: the longest side of a sheet's tiles, in pixels, by default
TILE_SIDE = 384
#: the longest side of the web app's thumbnails
THUMB_SIDE = 256
#: the frame of the bundled clip that the thumbnails show
THUMB_FRAME = 30
#: part of a tile's height taken by its label
LABEL_SHARE = 0.13
BACKGROUND = (24, 24, 27)
#: pixels between the pictures of a sheet
GAP = 6


def first_frame(path: str | Path, max_size: int | None = None, index: int = 0) -> np.ndarray:
    """The picture of a photo, or a video's first frame (or frame ``index``, or its last
    if it has fewer); a one-line error if none can be read."""
    image = None
    with open_source(path, max_size=max_size, max_frames=index + 1) as source:
        for frame in source:
            image = frame.image
    if image is None:
        raise VidstyleError(f"no frame of {path} could be decoded")
    return image


def stylized(photo: np.ndarray, styles: list[StyleInfo], device: str = "auto") -> Iterator[np.ndarray]:
    """``photo`` in each style in turn, as ``vidstyle stylize`` paints it at that size."""
    for info in styles:
        yield make_stylizer(NetworkSettings(str(info.path), device=device, temporal=0.0))([photo])[0]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def labelled(image: np.ndarray, label: str, side: int) -> Image.Image:
    """``image`` with its longest side at ``side`` pixels, ``label`` in a band beneath it."""
    picture = Image.fromarray(resize_max(image, side) if max(image.shape[:2]) > side else image)
    band = max(18, round(max(picture.size) * LABEL_SHARE))
    tile = Image.new("RGB", (picture.width, picture.height + band), BACKGROUND)
    tile.paste(picture, (0, 0))
    draw = ImageDraw.Draw(tile)
    font = _font(band * 11 // 20)
    draw.text(
        (picture.width / 2, picture.height + band / 2), label, fill=(236, 236, 236), font=font, anchor="mm"
    )
    return tile


def make_sheet(
    pictures: list[tuple[str, np.ndarray]], side: int = TILE_SIDE, columns: int | None = None
) -> np.ndarray:
    """Labelled pictures of one size in a grid, row by row (``columns`` default: as square
    as can be), with a thin gap between them."""
    columns = columns or math.ceil(math.sqrt(len(pictures)))
    rows = math.ceil(len(pictures) / columns)
    tiles = [labelled(image, label, side) for label, image in pictures]
    width, height = tiles[0].size
    sheet = Image.new("RGB", (columns * (width + GAP) + GAP, rows * (height + GAP) + GAP), BACKGROUND)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        sheet.paste(tile, (GAP + column * (width + GAP), GAP + row * (height + GAP)))
    return np.asarray(sheet)


def write_sheet(
    photo: Path,
    output: Path,
    *,
    extra_dirs: list[Path] | None = None,
    side: int = TILE_SIDE,
    columns: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
) -> int:
    """Write the sheet of ``photo`` (first, as "original") in every installed style;
    returns the number of styles."""
    check_output_path(output, inputs=(photo,), overwrite=overwrite)
    image = read_image(photo)
    styles = list_styles(extra_dirs)
    pictures = [("original", image)]
    pictures += [(info.name, out) for info, out in zip(styles, stylized(image, styles, device), strict=True)]
    write_image(output, make_sheet(pictures, side, columns))
    return len(styles)


def thumbnail_photo() -> np.ndarray:
    """The photo every thumbnail shows: two cars in the bundled clip."""
    return first_frame(DEMO_CLIP, THUMB_SIDE * 2, index=THUMB_FRAME)


def cache_dir() -> Path:
    """Where the web app keeps what it makes once: ``$XDG_CACHE_HOME/vidstyle`` (default
    ``~/.cache/vidstyle``)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "vidstyle"


def thumbnail(info: StyleInfo, photo: np.ndarray | None = None) -> Path:
    """The bundled clip's first frame in ``info``'s style, made on first use and cached
    under a name that changes with the weights file (a retrained style is made again)."""
    stat = info.path.stat()
    key = hashlib.sha1(f"{info.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    path = cache_dir() / "thumbnails" / f"{info.stem}-{key[:12]}.jpg"
    if not path.is_file():
        photo = thumbnail_photo() if photo is None else photo
        picture = next(stylized(photo, [info], device="cpu"))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, resize_max(picture, THUMB_SIDE), quality=90)
    return path
