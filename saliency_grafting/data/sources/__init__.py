"""The registered datasets, one file each: importing this package registers them all in ``DATASETS``."""

from saliency_grafting.data.sources import cifar, fsdd, imagefolder, synthetic, tinyimagenet

__all__ = ["cifar", "fsdd", "imagefolder", "synthetic", "tinyimagenet"]
