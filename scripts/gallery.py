#!/usr/bin/env python
"""Render docs/gallery.jpg: rows are photos, columns are styles, painting thumbnails on top.

    python scripts/gallery.py [STYLE ...] [--content DIR] [--cell 256] [-o docs/gallery.jpg]
        [--hq STYLE ...]

``--hq STYLE`` adds a column per named style with HQ mode's result (per-photo Gatys
optimisation at its defaults, from the full painting in ../shared/data/styles): the
reference a network of that style aims for. HQ results take minutes each on a CPU, so
they are kept in ``--hq-cache`` (PNG per style, photo and size) and reused by later runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from vidstyle.io.images import read_image, resize_max, write_image
from vidstyle.jobs.hq import Gatys, HQConfig
from vidstyle.stylizers.fast import FastStylizer
from vidstyle.weights import Style, list_styles, load_style

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


def hq_engine(style: Style, paintings: Path, size: int) -> Gatys:
    """HQ mode at its defaults, with the full painting the style was trained on where it is found."""
    painting = paintings / str(style.info.metadata.get("style_image_name"))
    image = read_image(painting) if painting.is_file() else style.style_image
    return Gatys(HQConfig(size=size), image, torch.device("cpu"))


def hq_cell(engine: Gatys, image: np.ndarray, key: str, cache: Path) -> np.ndarray:
    """HQ mode's result for ``image``, from ``cache`` where an earlier run left it."""
    path = cache / f"{key}.png"
    if path.is_file():
        return read_image(path)
    result = engine.stylize(image)[0]
    cache.mkdir(parents=True, exist_ok=True)
    write_image(path, result)
    print(f"HQ {key} done", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("styles", nargs="*")
    parser.add_argument("--content", type=Path, default=ROOT.parent / "shared/data/content")
    parser.add_argument("--cell", type=int, default=256)
    parser.add_argument("--size", type=int, default=512, help="stylize at this longest side")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs/gallery.jpg")
    parser.add_argument("--hq", nargs="+", default=[], metavar="STYLE", help="add HQ-mode columns")
    parser.add_argument("--paintings", type=Path, default=ROOT.parent / "shared/data/styles")
    parser.add_argument("--hq-size", type=int, default=HQConfig().size, help="longest side HQ optimises at")
    parser.add_argument("--hq-cache", type=Path, default=Path.home() / ".cache/vidstyle/gallery_hq")
    args = parser.parse_args()

    styles = [load_style(s) for s in args.styles] or [load_style(i.path) for i in list_styles()]
    photos = sorted(p for p in args.content.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    blank = np.full((args.cell, args.cell, 3), 255, np.uint8)
    header = [label(blank, "photo \\ style")] + [
        label(fit(s.style_image, args.cell), s.name) for s in styles
    ]
    engines = [hq_engine(load_style(name), args.paintings, args.hq_size) for name in args.hq]
    header += [label(fit(engine.style_image, args.cell), f"HQ {name}") for name, engine in zip(
        args.hq, engines, strict=True)]
    rows = [np.hstack(header)]
    stylizers = [FastStylizer(s, device="cpu") for s in styles]
    for photo in photos:
        image = resize_max(read_image(photo), args.size)
        cells = [label(fit(image, args.cell), photo.stem)]
        cells += [fit(st([image])[0], args.cell) for st in stylizers]
        hq_image = resize_max(image, args.hq_size)
        cells += [
            fit(hq_cell(engine, hq_image, f"{name}.{photo.stem}.{args.hq_size}", args.hq_cache), args.cell)
            for name, engine in zip(args.hq, engines, strict=True)
        ]
        rows.append(np.hstack(cells))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.output, np.vstack(rows), quality=85)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
