#!/usr/bin/env python
"""Measure shipped styles: style and content distances on photos, and flicker on a clip.

    python scripts/evaluate.py [STYLE ...] [--content DIR] [--styles-dir DIR ...] [--size 512]
    python scripts/evaluate.py --video CLIP [--frames 120] [--width 480] [STYLE ...]
    python scripts/evaluate.py --write-readme    # also replace the table in weights/README.md
    python scripts/evaluate.py --paint-size 1920 [--style-scale 0.5] [STYLE ...]   # HD frames

Style distance: mean over relu1_2, relu2_2, relu3_3, relu4_3 of ||G(x) - G(s)||^2 / ||G(s)||^2
(G: Gram matrix per position; s: the style image at the same longest side); reported for
the photo and the stylized photo, and their ratio (lower is more stylized).
Content distance at relu2_2: ||F(x) - F(c)||^2 / ||F(c)||^2.
Structure: correlation of the Sobel edge magnitudes of photo and stylized photo at 128 px
(vidstyle.quality.structure; 1 keeps every edge of the scene; a floor, >= 0.60 each).
Palette: sliced Wasserstein distance in CIELAB units between the stylized photo's colours and
the painting's (vidstyle.quality.palette_distance; targets <= 4.0 mean, <= 5.0 each).
Flicker: temporal warping error of the stylized clip, its frames scaled to --width (see
vidstyle.stylizers.flow.warping_error).
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

import cv2
import numpy as np
import torch

from vidstyle.io.images import read_image, resize_max, to_tensor
from vidstyle.models import VGGFeatures
from vidstyle.quality import palette_distance, structure
from vidstyle.stylizers.fast import DEFAULT_STYLE_SCALE, FastStylizer, resize_to
from vidstyle.stylizers.temporal import DEFAULT_WEIGHT
from vidstyle.training import vgg_weights
from vidstyle.training.losses import content_distance, style_distance
from vidstyle.weights import StyleInfo, list_styles, load_style

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
STYLE_LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
MARK_BEGIN, MARK_END = "<!-- evaluate:begin -->", "<!-- evaluate:end -->"
#: the targets: mean and worst photo of the style ratio and the palette distance (at most),
#: and the worst photo's structure (at least: a floor against a dissolved scene, not a goal)
TARGETS = {
    "ratio_mean": 0.20, "ratio_max": 0.30, "palette_mean": 4.0, "palette_max": 5.0, "structure_min": 0.60
}


def summarise(rows: list[tuple]) -> dict[str, float | bool]:
    """Mean and worst figures of :func:`photo_metrics` rows, and whether they meet :data:`TARGETS`."""
    ratios, structures, palettes = [r[3] for r in rows], [r[5] for r in rows], [r[6] for r in rows]
    figures = {
        "ratio_mean": statistics.fmean(ratios),
        "ratio_max": max(ratios),
        "palette_mean": statistics.fmean(palettes),
        "palette_max": max(palettes),
        "structure_mean": statistics.fmean(structures),
        "structure_min": min(structures),
    }
    at_most = ("ratio_mean", "ratio_max", "palette_mean", "palette_max")
    met = all(figures[k] <= TARGETS[k] for k in at_most)
    met = met and figures["structure_min"] >= TARGETS["structure_min"]
    return {**figures, "meets_targets": met}


def training_summary(info: StyleInfo) -> str:
    """Iterations and wall time as the weights file records them (its last run)."""
    training = info.metadata.get("training", {})
    seconds = training.get("seconds")
    minutes = f", {seconds / 60:.0f} min" if seconds else ""
    mixed = training.get("interpolated_with")
    also = f"; {mixed['share']:g} of a {mixed.get('iterations', '?')} it run mixed in" if mixed else ""
    return f"{training.get('iterations', '?')} it{minutes}{also}"


def style_reference(info: StyleInfo, styles_dirs: list[Path]) -> np.ndarray:
    """The full style image, found by name in ``styles_dirs``, when available: the weights
    hold a 256 px thumbnail, against which the distances come out far larger (Composition
    VII's one-command network: ratio 0.28 against the thumbnail, 0.15 against the painting)."""
    name = info.metadata.get("style_image_name")
    paths = [folder / name for folder in styles_dirs] if name else []
    path = next((p for p in paths if p.is_file()), None)
    return read_image(path) if path else load_style(info.path).style_image


def paint(stylizer: FastStylizer, image: np.ndarray, side: int | None) -> np.ndarray:
    """``image`` stylized as it is, or at ``side`` px on its longest side (an HD frame,
    say) and the result brought back to the image's size, as a viewer sees the whole frame."""
    if side is None:
        return stylizer([image])[0]
    h, w = image.shape[:2]
    scale = side / max(h, w)
    big = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(stylizer([big])[0], (w, h), interpolation=cv2.INTER_AREA)


@torch.no_grad()
def photo_metrics(
    info: StyleInfo,
    photos: list[Path],
    vgg: VGGFeatures,
    size: int,
    styles_dirs: list[Path],
    paint_side: int | None = None,
    style_scale: float | str = DEFAULT_STYLE_SCALE,
):
    stylizer = FastStylizer(info.path, device="cpu", style_scale=style_scale)
    painting = style_reference(info, styles_dirs)
    style_feats = vgg(to_tensor(resize_max(painting, size)))
    style_feats = {k: style_feats[k] for k in STYLE_LAYERS}
    rows = []
    for photo in photos:
        image = resize_max(read_image(photo), size)
        out = paint(stylizer, image, paint_side)
        fc, fo = vgg(to_tensor(image)), vgg(to_tensor(out))
        before, after = style_distance(fc, style_feats), style_distance(fo, style_feats)
        content = content_distance(fo["relu2_2"], fc["relu2_2"])
        palette = palette_distance(out, painting)
        rows.append((photo.stem, before, after, after / before, content, structure(image, out), palette))
    return rows


def video_flicker(
    info: StyleInfo, clip: Path, frames: int, width: int, temporal: float, style_scale: float | str
) -> float:
    from vidstyle.io.video import VideoReader
    from vidstyle.stylizers.flow import warping_error
    from vidstyle.stylizers.temporal import TemporalBlender

    stylizer = TemporalBlender(FastStylizer(info.path, device="cpu", style_scale=style_scale), temporal)
    errors, prev = [], None
    with VideoReader(clip, max_frames=frames) as reader:
        for frame in reader:
            height = round(frame.image.shape[0] * width / frame.image.shape[1])
            src = resize_to(frame.image, width, height)  # enlarged too: HD from a smaller clip
            out = stylizer([src])[0]
            if prev is not None:
                errors.append(warping_error(prev[1], out, prev[0], src))
            prev = (src, out)
    return statistics.fmean(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("styles", nargs="*", help="style names or weights files (default: all shipped)")
    parser.add_argument("--content", type=Path, default=SHARED / "content")
    parser.add_argument(
        "--styles-dir", type=Path, nargs="+", default=[SHARED / "styles", SHARED / "unseen"],
        help="where the paintings are found by name",
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--paint-size", type=int, metavar="N",
        help="stylize each photo scaled to N px (e.g. 1920: an HD frame), measure it at --size",
    )
    parser.add_argument("--style-scale", default=DEFAULT_STYLE_SCALE, help="FastStylizer's style_scale")
    parser.add_argument("--video", type=Path, help="also measure flicker on this clip")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--temporal", type=float, nargs="+", default=[0.0, DEFAULT_WEIGHT],
                        help="flicker with these --temporal blending weights")
    parser.add_argument("--write-readme", action="store_true", help="update weights/README.md")
    args = parser.parse_args()

    infos = list_styles()
    if args.styles:
        infos = [load_style(s).info for s in args.styles]
    weights = vgg_weights.load("vgg16")
    vgg = VGGFeatures("vgg16", STYLE_LAYERS, weights.state_dict)
    photos = sorted(p for p in args.content.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if args.video is None and args.write_readme and (SHARED / "videos/car-detection.mp4").is_file():
        args.video = SHARED / "videos/car-detection.mp4"

    header = (
        "| style | photo | style dist. photo | style dist. output | ratio | content dist. "
        "| structure | palette |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|"]
    flicker_cols = " | ".join(f"flicker (temporal {w:g})" for w in args.temporal)
    summary = [
        f"| style | network | mean ratio | max ratio | mean palette | max palette | mean structure | "
        f"min structure | targets | {flicker_cols} | training |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|" + "---:|" * len(args.temporal) + "---|",
    ]
    for info in infos:
        style_scale = args.style_scale if args.style_scale == "auto" else float(args.style_scale)
        rows = photo_metrics(info, photos, vgg, args.size, args.styles_dir, args.paint_size, style_scale)
        for name, before, after, ratio, content, struct, palette in rows:
            lines.append(
                f"| {info.name} | {name} | {before:.3f} | {after:.3f} | {ratio:.3f} | {content:.3f} "
                f"| {struct:.3f} | {palette:.2f} |"
            )
        flicker = " | ".join(
            f"{video_flicker(info, args.video, args.frames, args.width, w, style_scale):.4f}"
            if args.video
            else "-"
            for w in args.temporal
        )
        fig = summarise(rows)
        summary.append(
            f"| {info.name} | {info.network} | {fig['ratio_mean']:.3f} | {fig['ratio_max']:.3f} | "
            f"{fig['palette_mean']:.2f} | {fig['palette_max']:.2f} | "
            f"{fig['structure_mean']:.3f} | {fig['structure_min']:.3f} | "
            f"{'yes' if fig['meets_targets'] else 'no'} | {flicker} | {training_summary(info)} |"
        )
    table = "\n".join(summary + ["", *lines])
    print(table)
    if args.write_readme:
        readme = ROOT / "weights" / "README.md"
        text = readme.read_text()
        pattern = re.compile(re.escape(MARK_BEGIN) + "\n(.*?)\n" + re.escape(MARK_END), re.S)
        found = pattern.search(text)
        shipped = {i.name for i in list_styles()}
        table = merge_tables(found.group(1) if found else "", table, shipped)
        block = f"{MARK_BEGIN}\n{table}\n{MARK_END}"
        readme.write_text(pattern.sub(lambda _: block, text) if found else f"{text}\n{block}\n")
        print(f"updated {readme}")


def merge_tables(old: str, new: str, shipped: set[str]) -> str:
    """The new tables' rows, plus the old rows of shipped styles that were not measured again.

    Evaluating one new style then keeps the others' figures; styles no longer shipped drop out.
    """
    def style_of(row: str) -> str:
        return row.split("|")[1].strip()

    old_parts = old.split("\n\n")
    merged = []
    for i, part in enumerate(new.split("\n\n")):
        lines = part.split("\n")
        head, rows = lines[:2], lines[2:]
        measured = {style_of(row) for row in rows}
        kept = []
        if i < len(old_parts) and old_parts[i].split("\n")[0] == head[0]:
            kept = [r for r in old_parts[i].split("\n")[2:] if style_of(r) in shipped - measured]
        merged.append("\n".join(head + sorted(kept + rows)))
    return "\n\n".join(merged)

if __name__ == "__main__":
    main()
