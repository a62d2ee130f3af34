#!/usr/bin/env python
"""Render docs/gallery.jpg: rows are photos, columns are styles, painting thumbnails on top.

    python scripts/gallery.py [STYLE ...] [--content DIR] [--cell 256] [-o docs/gallery.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from vidstyle.images import read_image, resize_max, write_image
from vidstyle.stylizer import FastStylizer
from vidstyle.weights import list_styles, load_style

ROOT = Path(__file__).resolve().parent.parent


def fit(image: np.ndarray, cell: int) -> np.ndarray:
    """Centre-crop to a square and scale to ``cell`` pixels."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    return cv2.resize(square, (cell, cell), interpolation=cv2.INTER_AREA)


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("styles", nargs="*")
    parser.add_argument("--content", type=Path, default=ROOT.parent / "shared/data/content")
    parser.add_argument("--cell", type=int, default=256)
    parser.add_argument("--size", type=int, default=512, help="stylize at this longest side")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs/gallery.jpg")
    args = parser.parse_args()

    styles = [load_style(s) for s in args.styles] or [load_style(i.path) for i in list_styles()]
    photos = sorted(p for p in args.content.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    blank = np.full((args.cell, args.cell, 3), 255, np.uint8)
    header = [label(blank, "photo \\ style")] + [
        label(fit(s.style_image, args.cell), s.name) for s in styles
    ]
    rows = [np.hstack(header)]
    stylizers = [FastStylizer(s, device="cpu") for s in styles]
    for photo in photos:
        image = resize_max(read_image(photo), args.size)
        cells = [label(fit(image, args.cell), photo.stem)]
        cells += [fit(st([image])[0], args.cell) for st in stylizers]
        rows.append(np.hstack(cells))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.output, np.vstack(rows), quality=85)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
