"""Reading and writing still images, and converting between arrays and tensors.

Arrays are ``H x W x 3`` uint8 RGB; tensors are ``N x 3 x H x W`` float RGB in [0, 1].
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import VidstyleError
from .fileio import atomic_output

#: the largest image accepted (pixels); more is treated as a decompression bomb
MAX_PIXELS = 100_000_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def read_image(path: Path, max_pixels: int = MAX_PIXELS, max_size: int | None = None) -> np.ndarray:
    """Decode any common image to RGB uint8, upright (EXIF), alpha composited on white.

    ``max_size`` bounds the longest side (as :func:`resize_max`). The image is scaled as
    soon as it is decoded, in 8 bits (JPEGs even decode at 1/2 to 1/8 scale), so reading
    takes at most about 8 bytes per source pixel (RGBA; 4 for RGB): 0.8 GB at the
    ``max_pixels`` cap, where a full-size array scaled afterwards would take several times that.
    """
    path = Path(path)
    if not path.is_file():
        raise VidstyleError(f"image not found: {path}")
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    raise VidstyleError(
                        f"{path} is too large ({im.width}x{im.height} pixels; limit {max_pixels:,})"
                    )
                if max_size:  # JPEG: decode at the smallest of 1/8 .. 1 still >= max_size
                    im.draft("RGB", scaled_size(im.width, im.height, max_size))
                ImageOps.exif_transpose(im, in_place=True)
                return _flatten(_shrink(_eight_bit(im), max_size))
    except VidstyleError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise VidstyleError(f"{path} is too large (limit {max_pixels:,} pixels)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise VidstyleError(f"cannot read image {path}: {exc}") from None


#: Pillow's modes for one channel wider than 8 bits (16-bit PNGs and TIFFs; "I" holds
#: 16-bit PNGs in older Pillow versions)
WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _eight_bit(im: Image.Image) -> Image.Image:
    """16-bit grey scaled to 8 bits (65535 -> 255): Pillow's own conversion clips at 255,
    which turns every tone but the darkest white."""
    if im.mode not in WIDE_GREY_MODES:
        return im
    import cv2

    levels = np.asarray(im)
    levels = levels.astype(levels.dtype.newbyteorder("="), copy=False)  # OpenCV needs native order
    return Image.fromarray(cv2.convertScaleAbs(levels, alpha=255 / 65535), "L")


def _shrink(im: Image.Image, max_size: int | None) -> Image.Image:
    """Scale down to ``max_size`` in the image's own mode, with alpha premultiplied as
    Pillow does, so edges of transparent areas keep no stray colour."""
    size = scaled_size(im.width, im.height, max_size)
    if size == im.size:
        return im
    if im.mode not in ("L", "LA", "RGB", "RGBA"):  # palettes, 1-bit, CMYK...: to colours first
        im = im.convert("RGBA" if _has_alpha(im) else "RGB")
    return im.resize(size, Image.Resampling.BOX)


def _flatten(im: Image.Image) -> np.ndarray:
    """An RGB array of ``im``, transparent areas composited on white."""
    if _has_alpha(im):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return np.array(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)


def _has_alpha(im: Image.Image) -> bool:
    """Whether ``im`` has transparency to composite: an alpha band, or a transparent palette entry."""
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


def write_image(path: Path, image: np.ndarray, quality: int = 95, *, replace: bool = True) -> None:
    """Save an RGB uint8 array atomically; the format follows the suffix. Without
    ``replace``, an existing file is kept (see :func:`~vidstyle.io.fileio.atomic_output`)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise VidstyleError(f"unsupported image type {path.suffix!r} for {path}")
    with atomic_output(path, replace=replace) as tmp:
        Image.fromarray(image).save(tmp, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))


def is_image_path(path: Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def scaled_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """The size after :func:`resize_max`: longest side at most ``max_size``, aspect kept."""
    if not max_size or max(width, height) <= max_size:
        return width, height
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_max(image: np.ndarray, max_size: int | None) -> np.ndarray:
    """Downscale so the longest side is at most ``max_size`` (never upscales)."""
    import cv2

    h, w = image.shape[:2]
    size = scaled_size(w, h, max_size)
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def pad_min(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` extended at the bottom and right (edge pixels repeated) to at least
    ``side`` pixels each way, for algorithms that refuse tiny or thin frames (the style
    networks, DIS optical flow); callers crop what they compute back to ``image``'s size."""
    import cv2

    height, width = image.shape[:2]
    bottom, right = max(0, side - height), max(0, side - width)
    if not bottom and not right:
        return image
    return cv2.copyMakeBorder(image, 0, bottom, 0, right, cv2.BORDER_REPLICATE)


def to_tensor(images: np.ndarray | list[np.ndarray], device: torch.device | str = "cpu") -> torch.Tensor:
    """One image or a list of equal-size images -> ``N x 3 x H x W`` float in [0, 1].

    The uint8 pixels travel to the device (4x less than floats), through pinned memory
    for CUDA so the copy overlaps with work already queued on the GPU.
    """
    batch = np.stack(images) if isinstance(images, list) else images[None]
    t = torch.from_numpy(batch)
    cuda = torch.device(device).type == "cuda"
    t = (t.pin_memory() if cuda else t).to(device, non_blocking=cuda)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def to_images(batch: torch.Tensor) -> list[np.ndarray]:
    """``N x 3 x H x W`` in [0, 1] (clamped) -> list of RGB uint8 arrays."""
    # x * 255 + 0.5 truncated: rounding in two passes over the pixels (round() and a clamp
    # to [0, 1] first cost several times more on channels-last tensors)
    levels = batch.detach().float().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    return list(levels.permute(0, 2, 3, 1).cpu().contiguous().numpy())
