"""``vidstyle ui``: the web app, a Gradio page over the jobs of :mod:`vidstyle.app.webjobs`.

Gradio is imported only here, and only when the page is built, so the command line stays
light; it is the ``ui`` extra (``pip install "vidstyle[ui]"``).
"""

import os
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import VidstyleError
from ..io.images import is_image_path
from ..jobs.stylize import StylizeResult
from ..settings import MAX_TEMPORAL, Look, NetworkSettings
from ..training.train import QUALITY_ITERATIONS
from ..weights import DEFAULT_STYLE, StyleInfo, list_styles, match_style
from .sheet import thumbnail, thumbnail_photo
from .webjobs import (
    Job,
    one_line,
    preview,
    samples_of,
    stylize_upload,
    stylize_upload_hq,
    train_style,
    user_styles_dir,
)

HOST, PORT = "127.0.0.1", 7860
#: the painted sizes offered (``--style-scale``): auto, coarser strokes, finer strokes
SCALES = ["auto", "0.5", "0.75", "1", "1.5", "2"]
#: how often a running job's progress is passed to the page, in seconds
POLL = 0.25
CSS = """
.gradio-container {max-width: 1280px !important; margin: auto;}
#styles .grid-wrap {min-height: 0 !important; height: auto !important; max-height: none !important;}
#styles .caption-label {white-space: normal; overflow-wrap: anywhere; max-width: 100%;}
#status {min-height: 1.6em; font-weight: 500;}
#status.error, #status p:has(> .error) {color: #b91c1c;}
footer {display: none !important;}
"""


def load_gradio() -> Any:
    """The gradio module, or the one-line hint to install the extra."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local tool: no calls home
    try:
        import gradio
    except ImportError:
        raise VidstyleError('the web app needs Gradio: pip install "vidstyle[ui]"') from None
    return gradio


class Studio:
    """What the page works on, apart from Gradio: the styles with their thumbnails, each
    browser session's running job, and the folder where results are written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.jobs: dict[str, Job] = {}
        self.styles: list[StyleInfo] = []
        self.refresh()

    def refresh(self) -> None:
        """List the styles again (shipped, ``$VIDSTYLE_STYLES``, trained here) and make the
        thumbnails that are not cached yet."""
        mine = user_styles_dir()
        self.styles = list_styles([mine] if mine.is_dir() else [], warn=lambda message: None)
        photo = thumbnail_photo()
        self.thumbnails = [str(thumbnail(info, photo)) for info in self.styles]

    def gallery(self) -> list[tuple[str, str]]:
        """(thumbnail, caption) per style; a caption may break after an underscore (a
        zero-width space there), so a narrow screen shows ``starry_`` / ``night_lite``
        rather than cutting the name short."""
        pairs = zip(self.thumbnails, self.styles, strict=True)
        return [(path, info.name.replace("_", "_\u200b")) for path, info in pairs]

    def choices(self) -> list[tuple[str, str]]:
        return [(info.name, str(info.path)) for info in self.styles]

    def default_index(self) -> int | None:
        found = match_style(DEFAULT_STYLE, self.styles) or (self.styles[0] if self.styles else None)
        return None if found is None else self.styles.index(found)

    def default_style(self) -> str | None:
        index = self.default_index()
        return None if index is None else str(self.styles[index].path)

    def start(self, session: str, work: Any) -> Job:
        """Start ``work`` as this session's job (one at a time: a running one is stopped)."""
        previous = self.jobs.get(session)
        if previous is not None:
            _stop_and_wait([previous])
        self.jobs[session] = job = Job(work).start()
        return job

    def stop(self, session: str) -> str:
        job = self.jobs.get(session)
        if job is None or not job.running:
            return "nothing is running"
        job.stop()
        return "stopping..."

    def stop_all(self) -> None:
        """Stop every running job and wait for it, so that none is still working (a training
        writing its checkpoint, a network mid-frame) when the server's process ends."""
        _stop_and_wait(list(self.jobs.values()))

    def new_folder(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="job-", dir=self.folder))


def _stop_and_wait(jobs: list[Job], seconds: float = 30) -> None:
    """Stop those of ``jobs`` still running, then wait up to ``seconds`` for each to end."""
    running = [job for job in jobs if job.running]
    for job in running:
        job.stop()
    for job in running:
        job.wait(seconds)


def _follow(job: Job, progress: Any, unit: str) -> None:
    """Pass the job's progress to Gradio's bar until it ends."""
    while not job.wait(POLL):
        report = job.report
        if report.total:
            progress((report.done, report.total), desc=job.describe(), unit=unit)
        else:
            progress(0.0, desc=report.info or "starting...")


def _error(message: str) -> str:
    return f'<span class="error">error: {message}</span>'


def _finished(result: StylizeResult) -> str:
    frames = f"{result.frames} frame{'s' if result.frames != 1 else ''}"
    return f"100% · {frames} in {result.seconds:.1f} s · style {result.style} · {Path(result.output).name}"


def build(studio: Studio) -> Any:
    """The page: styles, upload, look, preview, stylize with progress, and training."""
    gr = load_gradio()
    with gr.Blocks(title="vidstyle", analytics_enabled=False) as page:
        gr.Markdown("# vidstyle\nPick a style, drop a photo or a video, and stylize it.")
        with gr.Tab("Stylize"):
            _stylize_tab(gr, studio)
        with gr.Tab("Train a style"):
            _train_tab(gr, studio)
    return page


def _stylize_tab(gr: Any, studio: Studio) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            styles = gr.Gallery(
                studio.gallery(),
                label="Styles: click one",
                columns=3,
                height="auto",
                object_fit="cover",
                allow_preview=False,
                selected_index=studio.default_index(),
                elem_id="styles",
            )
            style = gr.Dropdown(
                studio.choices(), value=studio.default_style(), label="Style", elem_id="style"
            )
            with gr.Row():
                strength = gr.Slider(0, 1, Look.strength, step=0.05, label="Strength", info="0: the original")
                temporal = gr.Slider(
                    0,
                    MAX_TEMPORAL,
                    NetworkSettings.temporal,
                    step=0.05,
                    label="Temporal smoothing",
                    info="videos: less flicker",
                )
            with gr.Row():
                scale = gr.Dropdown(
                    SCALES,
                    value=NetworkSettings.style_scale,
                    label="Painted size",
                    info="below 1: coarser strokes, faster",
                )
                with gr.Column(min_width=120):
                    keep = gr.Checkbox(Look.preserve_color, label="Keep colours")
                    hq = gr.Checkbox(False, label="HQ mode (photos: minutes)")
        with gr.Column(scale=7):
            upload = gr.File(label="Photo or video", elem_id="upload", height=120)
            with gr.Row(equal_height=True):
                before = gr.Image(label="Original (first frame)", interactive=False, elem_id="before")
                after = gr.Image(label="Preview", interactive=False, elem_id="preview")
            with gr.Row():
                run = gr.Button("Stylize", variant="primary", elem_id="run")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
            status = gr.Markdown(elem_id="status")
            photo = gr.Image(label="Result", visible=False, elem_id="result-image", format="png")
            video = gr.Video(label="Result", visible=False, elem_id="result-video")
            download = gr.File(label="Download", visible=False, elem_id="download")

    def pick(evt: gr.SelectData) -> str:
        """A click on a thumbnail picks its style."""
        return studio.choices()[evt.index][1]

    def show(upload, style, strength, keep, temporal, scale):
        """Before and after for one frame of the upload, or the upload's one-line error."""
        if not upload:
            return None, None, ""
        try:
            return *preview(upload, *_settings(style, strength, keep, temporal, scale)), ""
        except Exception as exc:  # any failure is a line on the page
            return None, None, _error(one_line(exc))

    tracker = gr.Progress()  # Gradio passes each call its own bar through this default

    def stylize(upload, style, strength, keep, temporal, scale, hq, request: gr.Request, progress=tracker):
        """Stylize the whole upload as the CLI does, following its progress; then show it."""
        if not upload:
            return _error("drop a photo or a video first"), *_hidden(gr)
        work = stylize_upload_hq if hq else stylize_upload
        settings = _settings(style, strength, keep, temporal, scale)
        job = studio.start(request.session_hash, partial(work, upload, *settings, studio.new_folder()))
        _follow(job, progress, "frames")
        if job.error is not None:
            return _error(one_line(job.error)), *_hidden(gr)
        return _shown(gr, job.result)

    def halt(request: gr.Request) -> str:
        return studio.stop(request.session_hash)

    styles.select(pick, None, style)
    look = [style, strength, keep, temporal, scale]
    gr.on(
        [upload.change, style.change, strength.release, keep.change, scale.change],
        show,
        [upload, *look],
        [before, after, status],
        show_progress="minimal",
    )
    run.click(stylize, [upload, *look, hq], [status, photo, video, download])
    stop.click(halt, None, status, queue=False)


def _settings(
    style: str, strength: float, keep: bool, temporal: float, scale: str
) -> tuple[NetworkSettings, Look]:
    """The page's controls as the settings of a job (``vidstyle stylize``'s options)."""
    return NetworkSettings(style, temporal=temporal, style_scale=scale), Look(strength, keep)


def _hidden(gr: Any) -> tuple[Any, ...]:
    return (gr.update(visible=False),) * 3


def _shown(gr: Any, result: StylizeResult) -> tuple[Any, ...]:
    """The status line, the result as a picture or a video, and its download."""
    image = is_image_path(Path(result.output))
    return (
        _finished(result),
        gr.update(value=result.output if image else None, visible=image),
        gr.update(value=None if image else result.output, visible=not image),
        gr.update(value=result.output, visible=True),
    )


def _train_tab(gr: Any, studio: Studio) -> None:
    gr.Markdown(
        "Train a fast style from a painting: it fine-tunes the default style on a folder of "
        f"photos and joins the styles when done (in `{user_styles_dir()}`)."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            painting = gr.Image(label="Painting", type="filepath", elem_id="painting")
            name = gr.Textbox(label="Name", placeholder="the painting's file name")
            quality = gr.Radio(
                list(QUALITY_ITERATIONS),
                value="draft",
                label="Quality",
                info=", ".join(f"{q}: {n} steps" for q, n in QUALITY_ITERATIONS.items()),
            )
            data = gr.Textbox(label="Training photos", placeholder="a folder of photos ($VIDSTYLE_DATA)")
            with gr.Row():
                train = gr.Button("Train", variant="primary")
                stop = gr.Button("Stop", variant="stop")
        with gr.Column(scale=6):
            status = gr.Markdown()
            samples = gr.Gallery(label="Samples as training goes", columns=4, height="auto")

    tracker = gr.Progress()

    def learn(painting, name, quality, data, request: gr.Request, progress=tracker):
        """Train, passing on the samples as they appear; the style joins the grid when done."""
        if not painting:
            yield _error("drop a painting first"), []
            return
        name = (name or "").strip() or Path(painting).stem
        folder = user_styles_dir()
        work = partial(train_style, Path(painting), name, quality, Path(data) if data else None, folder)
        job = studio.start(request.session_hash, work)
        yield from _follow_training(gr, job, progress, folder / f"{name}.safetensors")
        if job.error is None:
            studio.refresh()

    def halt(request: gr.Request) -> str:
        return studio.stop(request.session_hash)

    train.click(learn, [painting, name, quality, data], [status, samples])
    stop.click(halt, None, status, queue=False)


def _follow_training(gr: Any, job: Job, progress: Any, output: Path) -> Any:
    """The status and the samples so far, each time a new sample appears, then at the end."""
    shown: list[str] = []
    while not job.wait(1.0):
        if job.report.total:
            progress((job.report.done, job.report.total), desc=job.describe(), unit="steps")
        samples = [str(p) for p in samples_of(output)]
        if samples != shown:
            shown = samples
            yield gr.update(), samples
    samples = [str(p) for p in samples_of(output)]
    if job.error is not None:
        yield _error(one_line(job.error)), samples
    else:
        yield f"trained {output.stem}: {output} (reload the page to see it among the styles)", samples


def serve(host: str = HOST, port: int = PORT, share: bool = False, say: Any = print) -> None:
    """Run the web app until Ctrl-C; ``say`` gets the address to open."""
    gr = load_gradio()
    with tempfile.TemporaryDirectory(prefix="vidstyle-ui-") as folder:
        studio = Studio(Path(folder))
        page = build(studio)
        page.queue()
        _, url, share_url = page.launch(
            server_name=host,
            server_port=port,
            share=share,
            prevent_thread_lock=True,
            quiet=True,
            theme=gr.themes.Soft(primary_hue="indigo"),
            css=CSS,
        )
        say(f"vidstyle ui on {url} (Ctrl-C stops it)")
        if share_url:
            say(f"shared as {share_url}")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            page.close(verbose=False)
            studio.stop_all()
