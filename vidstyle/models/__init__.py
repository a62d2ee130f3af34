"""Neural networks: the feed-forward transform network and the VGG loss network."""

from .transformer import TransformerNet
from .vgg import VGGFeatures

__all__ = ["TransformerNet", "VGGFeatures"]
