"""Training photos: a folder of images, sampled deterministically by global sample number.

Every crop depends only on ``(seed, sample number)``, so a resumed run sees exactly the
batches an uninterrupted one would have seen, and distributed ranks never overlap.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import VidstyleError
from ..io.fileio import require_folder
from ..io.images import IMAGE_SUFFIXES, read_image, to_tensor


def find_images(directory: Path) -> list[Path]:
    """All image files below ``directory`` (recursive, sorted for reproducibility)."""
    directory = Path(directory)
    require_folder(directory, "training data directory")
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise VidstyleError(
            f"no images found in {directory} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return files


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Scale the short side to ``size * U(1, 1.25)``, then take a random ``size`` square."""
    h, w = image.shape[:2]
    scale = size * rng.uniform(1.0, 1.25) / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    image = cv2.resize(image, (nw, nh), interpolation=interp)
    top = int(rng.integers(0, nh - size + 1))
    left = int(rng.integers(0, nw - size + 1))
    crop = image[top : top + size, left : left + size]
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def _user_warning(message: str) -> None:
    """The default report of a skipped photo for library callers: a warning they can filter."""
    warnings.warn(message, UserWarning, stacklevel=4)


class PhotoSampler:
    """Batches of random crops; sample ``k`` of the whole run is a pure function of ``k``.

    ``warn`` receives one line per unreadable photo (the command line prints it as
    ``warning: ...``); by default it is a :class:`UserWarning`.
    """

    def __init__(
        self,
        directory: Path,
        image_size: int = 256,
        seed: int = 0,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.files = find_images(self.directory)
        self.image_size, self.seed, self.warn = image_size, seed, warn or _user_warning
        self.skipped: set[Path] = set()
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _candidates(self, k: int) -> Iterator[Path]:
        """The file of sample ``k``, then the rest of its epoch's shuffled order (wrapping
        around): every file is offered once, so one readable photo is enough to train, and
        a skipped photo's turns go to photos picked at random rather than to one neighbour."""
        epoch, pos = divmod(k, len(self.files))
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.files))}
        order = self._perms[epoch]
        for step in range(len(self.files)):
            yield self.files[order[(pos + step) % len(self.files)]]

    def _read(self, path: Path) -> np.ndarray | None:
        """The decoded image, or None (warned once, then skipped) for an unreadable file."""
        if path in self.skipped:
            return None
        try:
            return read_image(path)
        except VidstyleError as exc:
            self.skipped.add(path)
            self.warn(f"skipping unreadable training image: {exc}")
            return None

    def sample(self, k: int) -> np.ndarray:
        """The crop for global sample number ``k``; an unreadable file passes its turn on."""
        for path in self._candidates(k):
            image = self._read(path)
            if image is not None:
                return random_crop(image, self.image_size, np.random.default_rng([self.seed, k, 1]))
        raise self._none_readable()

    def first_image(self) -> np.ndarray:
        """The first readable photo, whole (for progress samples)."""
        image = next((im for im in map(self._read, self.files) if im is not None), None)
        if image is None:
            raise self._none_readable()
        return image

    def spread_images(self, count: int) -> list[np.ndarray]:
        """``count`` readable photos (fewer if there are fewer), whole: spaced evenly over
        the sorted files, so that they stand for the whole set rather than its first
        folder or class. An unreadable photo's place goes to the next readable file."""
        n = len(self.files)
        found: list[np.ndarray] = []
        taken: set[int] = set()
        for start in ((2 * i + 1) * n // (2 * count) for i in range(count)):
            for index in (i % n for i in range(start, start + n)):
                if index in taken:
                    continue
                taken.add(index)
                image = self._read(self.files[index])
                if image is not None:
                    found.append(image)
                    break
        if not found:
            raise self._none_readable()
        return found

    def _none_readable(self) -> VidstyleError:
        return VidstyleError(f"none of the {len(self.files)} images in {self.directory} could be read")

    def batch(self, first: int, count: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Samples ``first .. first+count-1`` as an ``N x 3 x S x S`` tensor in [0, 1]."""
        return to_tensor([self.sample(first + i) for i in range(count)], device)
