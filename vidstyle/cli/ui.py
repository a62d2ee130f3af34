"""The ``ui`` command: the web app, where the styles are shown as pictures."""

from __future__ import annotations

from typing import Annotated

import typer


def ui(
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on.")] = 7860,
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="Address to listen on: 127.0.0.1 is this computer only; 0.0.0.0 opens the page "
            "to your network.",
        ),
    ] = "127.0.0.1",
    share: Annotated[
        bool, typer.Option("--share", help="Also give the page a public gradio.live link (72 hours).")
    ] = False,
) -> None:
    """Open the web app: styles as pictures, a preview, stylize and train from a browser.

    Needs the ui extra: pip install "vidstyle[ui]". Ctrl-C stops it.
    """
    from ..app.ui import serve

    serve(host, port, share, say=lambda line: typer.echo(line))
