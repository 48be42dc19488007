"""Lightning callbacks of mintnet."""

from mintnet.callbacks.sample_images import SampleImages

__all__ = ["SampleImages"]
