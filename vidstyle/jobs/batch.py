"""Batches: many images and videos (files or folders) stylized into one output folder.

Names and sub-folders are kept; outputs that exist are skipped unless ``overwrite``; a file
that fails is reported and the others go on. :func:`run_batch` does this for any engine:
:func:`stylize_batch` stylizes one file after another in this process (the stylizer, its
network loaded once, shared by every file), :func:`~vidstyle.jobs.distributed.stylize_batch_on_ray`
runs them as Ray tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

from ..errors import VidstyleError
from ..io.fileio import check_writable_folder
from ..io.frames import Stylizer
from ..io.images import is_image_path
from ..io.video import FORMATS, is_video_file
from ..stylizers.base import Paint
from .stylize import StylizeResult, stylize_media

#: the container a video goes into when its own cannot be written (e.g. .flv, .wmv)
FALLBACK_VIDEO_SUFFIX = ".mp4"


@dataclass
class BatchItem:
    """What happened to one file of a batch (``vidstyle stylize --json`` prints these)."""

    input: str
    output: str
    status: str  # "done", "skipped" (output exists) or "failed"
    error: str | None = None
    result: StylizeResult | None = None
    #: the failure, which a command may say in its own words (:meth:`error_naming`)
    exception: Exception | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failed(cls, source: Path, target: Path, error: Exception) -> BatchItem:
        return cls(str(source), str(target), "failed", str(error), exception=error)

    def error_naming(self, flag: Callable[[str], str]) -> str | None:
        """:attr:`error` with the settings it names said as ``flag(field)`` (see
        :meth:`~vidstyle.errors.VidstyleError.naming`)."""
        if isinstance(self.exception, VidstyleError):
            return self.exception.naming(flag)
        return self.error

    def to_json(self) -> dict[str, object]:
        data = asdict(replace(self, exception=None))
        del data["exception"]
        return data


def is_media(path: Path) -> bool:
    return is_image_path(path) or is_video_file(path)


def output_for(relative: Path, output_dir: Path, tag: str | None = None) -> Path:
    """Where a file of the batch goes: the same relative name, in a container vidstyle writes;
    with ``tag`` (a style's name, when one batch runs for several) before the suffix, so that
    each style's files sit side by side (``clip.candy.mp4``)."""
    if is_video_file(relative) and relative.suffix.lower() not in FORMATS:
        relative = relative.with_suffix(FALLBACK_VIDEO_SUFFIX)
    if tag is not None:
        relative = relative.with_name(f"{relative.stem}.{tag}{relative.suffix}")
    return output_dir / relative


def plan(inputs: list[Path], output_dir: Path, tag: str | None = None) -> list[tuple[Path, Path]]:
    """Every (input, output) pair of a batch, in a stable order (``tag``: see :func:`output_for`).

    A folder contributes its images and videos, sub-folders included (not hidden files,
    nor anything inside ``output_dir`` when that lies within it); a file is taken as given.
    An input folder that is ``output_dir`` or lies within it is refused: its files would be
    written among themselves.
    """
    check_writable_folder(output_dir)
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            _check_apart(item, output_dir)
            pairs += [
                (path, output_for(path.relative_to(item), output_dir, tag))
                for path in _media_in(item, output_dir)
            ]
        elif item.exists():
            pairs.append((item, output_for(Path(item.name), output_dir, tag)))
        else:
            raise VidstyleError(f"input not found: {item}")
    outputs = [out for _, out in pairs]
    twice = {out for out in outputs if outputs.count(out) > 1}
    if twice:
        raise VidstyleError(f"two inputs would both be written to {sorted(twice)[0]}; give them apart")
    return pairs


def _check_apart(folder: Path, output_dir: Path) -> None:
    """Refuse an output folder that is the input ``folder`` or holds it."""
    inside, out = folder.resolve(), output_dir.resolve()
    if inside == out or out in inside.parents:
        what = "is the input folder" if inside == out else f"holds the input folder {folder}"
        raise VidstyleError(
            f"output folder {output_dir} {what}: choose a folder outside it, such as {folder.name}-styled/"
        )


def _media_in(folder: Path, output_dir: Path) -> Iterator[Path]:
    skip = output_dir.resolve()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        hidden = any(part.startswith(".") for part in relative.parts)
        if path.is_file() and not hidden and is_media(path) and skip not in path.resolve().parents:
            yield path


#: a batch's engine: stylizes the (input, output) pairs it is given and tells the callback
#: each one's :class:`BatchItem` as it finishes, in any order
Runner = Callable[[list[tuple[Path, Path]], Callable[[BatchItem], None]], None]


def run_batch(
    inputs: list[Path],
    output_dir: Path,
    runner: Runner,
    *,
    overwrite: bool = False,
    on_item: Callable[[int, int, BatchItem], None] | None = None,
    tag: str | None = None,
) -> list[BatchItem]:
    """Plan the batch, skip the outputs that exist (unless ``overwrite``) and let ``runner``
    stylize the others; the items in the plan's order (``tag``: see :func:`output_for`).

    ``on_item`` hears about each file as it is skipped or finishes (how many files have,
    this one included, the total, what happened), whichever engine runs them.
    """
    pairs = plan([Path(p) for p in inputs], Path(output_dir), tag)
    if not pairs:
        raise VidstyleError(f"no images or videos in {', '.join(map(str, inputs))}")
    items: dict[str, BatchItem] = {}

    def report(item: BatchItem) -> None:
        items[item.output] = item
        if on_item is not None:
            on_item(len(items), len(pairs), item)

    todo = []
    for source, target in pairs:
        if target.exists() and not overwrite:
            report(BatchItem(str(source), str(target), "skipped"))
        else:
            todo.append((source, target))
    runner(todo, report)
    return [items[str(target)] for _, target in pairs]


def stylize_batch(
    inputs: list[Path],
    output_dir: Path,
    stylizer: Stylizer | Paint,
    *,
    overwrite: bool = False,
    on_item: Callable[[int, int, BatchItem], None] | None = None,
    tag: str | None = None,
    **options: object,
) -> list[BatchItem]:
    """Stylize every image and video of ``inputs`` into ``output_dir``, one file after
    another in this process (see :func:`run_batch`).

    ``options`` go to :func:`~vidstyle.jobs.stylize.stylize_media` for each file.
    Ctrl-C stops the batch (the file in progress leaves no partial output).
    """

    def one_by_one(pairs: list[tuple[Path, Path]], report: Callable[[BatchItem], None]) -> None:
        for source, target in pairs:
            work = partial(_stylize_file, source, target, stylizer, overwrite, options)
            report(attempt(source, target, work))

    return run_batch(inputs, output_dir, one_by_one, overwrite=overwrite, on_item=on_item, tag=tag)


def attempt(source: Path, target: Path, work: Callable[[], StylizeResult]) -> BatchItem:
    """What ``work`` (stylizing ``source`` into ``target``) did: done, or failed with the
    one-line error of a problem with that file."""
    try:
        result = work()
    except (VidstyleError, OSError) as exc:
        return BatchItem.failed(source, target, exc)
    return BatchItem(str(source), str(target), "done", result=result)


def _stylize_file(
    source: Path, target: Path, stylizer: Stylizer | Paint, overwrite: bool, options: dict
) -> StylizeResult:
    target.parent.mkdir(parents=True, exist_ok=True)
    return stylize_media(source, target, stylizer, overwrite=overwrite, **options)
