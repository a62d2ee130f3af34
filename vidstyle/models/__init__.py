"""Neural networks: the feed-forward transform network and the VGG loss network."""

from .transformer import (
    ARCHITECTURES,
    ArchitectureError,
    LiteTransformerNet,
    StyleNetwork,
    TransformerNet,
    build_transformer,
    check_config,
)
from .vgg import VGGFeatures

__all__ = [
    "ARCHITECTURES",
    "ArchitectureError",
    "LiteTransformerNet",
    "StyleNetwork",
    "TransformerNet",
    "VGGFeatures",
    "build_transformer",
    "check_config",
]
