"""Interpolate two fine-tunes of one style network: OUT = (1 - T) * A + T * B, tensor by tensor.

Two runs from the same start that overshoot a target in opposite directions (one keeps
more of the scene, one more of the painting) usually have a good network between them;
the interpolated one is measured like any other (``scripts/evaluate.py``). OUT keeps B's
self-description, with A's run recorded under ``training.interpolated_with``.

    python scripts/interpolate_weights.py A.safetensors B.safetensors 0.7 -o OUT.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from vidstyle.errors import VidstyleError
from vidstyle.io.fileio import atomic_output


def interpolate(a: Path, b: Path, t: float, out: Path) -> None:
    with safe_open(a, "pt") as first, safe_open(b, "pt") as second:
        meta_a = json.loads(first.metadata()["vidstyle"])
        meta = json.loads(second.metadata()["vidstyle"])
        if meta_a["arch"] != meta["arch"] or set(first.keys()) != set(second.keys()):
            raise SystemExit(f"{a} and {b} are not the same network")
        tensors = {}
        for key in second.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
            x, y = first.get_tensor(key), second.get_tensor(key)
            tensors[key] = ((1 - t) * x.float() + t * y.float()).to(y.dtype) if y.is_floating_point() else y
    run = meta_a.get("training", {})
    meta.setdefault("training", {})["interpolated_with"] = {
        "share": round(1 - t, 4),
        **{k: run.get(k) for k in ("command", "iterations", "seconds", "final_style_weight")},
    }
    with atomic_output(out, replace=False) as tmp:
        save_file(tensors, str(tmp), metadata={"vidstyle": json.dumps(meta)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("t", type=float, help="B's share, 0 to 1")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    if not 0 <= args.t <= 1:
        parser.error("T must be from 0 to 1")
    if args.output.exists():
        parser.error(f"{args.output} already exists")
    try:
        interpolate(args.a, args.b, args.t, args.output)
    except VidstyleError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
