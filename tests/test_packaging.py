"""A built wheel carries the shipped styles: a regular install lists and uses them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED_FILES = sorted(p.name for p in (REPO / "weights").glob("*.safetensors"))


def copy_sources(target: Path) -> Path:
    """What the wheel is built from, copied: pip builds in the source folder and would leave
    build/ and egg-info behind in the repository (training leftovers are not copied)."""
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.ckpt", "*.samples", ".*.partial")
    for name in ("vidstyle", "weights"):
        shutil.copytree(REPO / name, target / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    return target


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.slow
def test_wheel_ships_the_styles_and_stylizes_with_the_default(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")  # built without isolation: no network needed
    from PIL import Image

    from vidstyle.weights import DEFAULT_STYLE

    assert len(SHIPPED_FILES) >= 6
    source = copy_sources(tmp_path / "src")
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], tmp_path)
    (wheel,) = wheels.glob("vidstyle-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
    assert {f"vidstyle/_shipped/{name}" for name in SHIPPED_FILES} <= members

    site = tmp_path / "site"
    run([*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)], tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "VIDSTYLE_STYLES"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    listed = json.loads(run([sys.executable, "-m", "vidstyle", "styles", "--json"], tmp_path, env).stdout)
    assert sorted(Path(row["path"]).name for row in listed) == SHIPPED_FILES
    assert all(Path(row["path"]).is_relative_to(site) for row in listed)  # the wheel's, not the checkout's
    assert [row["name"] for row in listed if row["default"]] == [DEFAULT_STYLE]

    photo = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "small.png")
    done = run([sys.executable, "-m", "vidstyle", "stylize", "small.png", "-o", "out.png"], tmp_path, env)
    assert f"style {DEFAULT_STYLE}" in done.stdout
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    assert out.shape == photo.shape and np.abs(out.astype(int) - photo.astype(int)).mean() > 10


def test_every_package_is_listed_for_the_wheel() -> None:
    """pyproject.toml lists the packages (to map vidstyle._shipped): a new subpackage must join."""
    tomllib = pytest.importorskip("tomllib")
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "vidstyle").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= set(settings["packages"])
    assert settings["package-dir"]["vidstyle._shipped"] == "weights"
