"""Keeping the scene while a network learns a style: the style weight steered by structure.

How far a style may go before the scene dissolves depends on the painting: at one style
weight a far-off painting (Kandinsky) dissolves the skyline while a near one (candy) has
hardly taken hold. So one-command training does not fix the weight; every few iterations
it measures the network's structure (:func:`vidstyle.quality.structure`) on a few photos
at the size styles are judged at, and lowers the style weight while the structure is under
the target, raising it again while there is room. The result is the strongest style that
keeps the scene's edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..io.images import resize_max, to_images, to_tensor
from ..models import StyleNetwork
from ..quality import structure

#: iterations between two measurements
EVERY = 25
#: photos measured (spread over the training set: measured on the first four of an ImageNet
#: folder, all fish, the structure differed from that on city and street photos by -0.07
#: to +0.11 by painting; on eight spread photos by -0.03 to +0.06), and their longest side
#: (the size the quality targets are judged at)
PROBES, PROBE_SIDE = 8, 512
#: the weight moves by these factors: down faster than up, so a dissolving scene is caught
DOWN, UP = 0.8, 1.1
#: a structure this far above the target leaves room for more style
ROOM = 0.04
#: the weight never leaves these bounds
LOWEST, HIGHEST = 0.5, 500.0


@torch.no_grad()
def mean_structure(net: StyleNetwork, photos: list[np.ndarray], device: torch.device) -> float:
    """The network's mean structure over ``photos`` (run one at a time, in eval mode)."""
    was_training = net.training
    net.eval()
    scores = [structure(p, to_images(net(to_tensor(p, device)).float())[0]) for p in photos]
    net.train(was_training)
    return float(np.mean(scores))


@dataclass
class StyleBalance:
    """The style weight of a run, steered towards ``target`` structure (see the module).

    ``weight`` is part of the run's state: checkpoints keep it so that a resumed run goes
    on exactly.
    """

    weight: float
    target: float
    last_structure: float | None = None

    def update(self, net: StyleNetwork, photos: list[np.ndarray], device: torch.device) -> float:
        """Measure, adjust the weight, and return it."""
        score = mean_structure(net, photos, device)
        self.last_structure = score
        if score < self.target:
            self.weight *= DOWN
        elif score > self.target + ROOM:
            self.weight *= UP
        self.weight = min(HIGHEST, max(LOWEST, self.weight))
        return self.weight


def probe_photos(images: list[np.ndarray]) -> list[np.ndarray]:
    """The photos to measure, at :data:`PROBE_SIDE` on their longest side."""
    return [resize_max(image, PROBE_SIDE) for image in images[:PROBES]]
