"""The one place that makes a fast-mode stylizer from its settings."""

from __future__ import annotations

from ..settings import NetworkSettings
from .fast import FastStylizer
from .temporal import TemporalBlender


def make_stylizer(network: NetworkSettings) -> FastStylizer | TemporalBlender:
    """The stylizer ``network`` describes: its style's network, wrapped in temporal blending
    where ``network.temporal`` is above 0 (a stateful stylizer: frames in display order).

    Every job builds its stylizer here (the command line, segments on Ray, the webcam, the
    web app, HQ's fast start), so a setting added to :class:`NetworkSettings` reaches them all.
    """
    fast = FastStylizer(
        network.style,
        device=network.device,
        precision=network.precision,
        style_scale=network.style_scale,
        tile=network.tile,
    )
    return TemporalBlender(fast, network.temporal) if network.temporal > 0 else fast
