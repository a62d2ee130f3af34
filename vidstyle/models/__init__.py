"""Neural networks: the feed-forward transform network and the VGG loss network."""

from .transformer import ARCHITECTURES, LiteTransformerNet, StyleNetwork, TransformerNet, build_transformer
from .vgg import VGGFeatures

__all__ = [
    "ARCHITECTURES",
    "LiteTransformerNet",
    "StyleNetwork",
    "TransformerNet",
    "VGGFeatures",
    "build_transformer",
]
