"""Model components shared by every task: image backbones, heads, losses and
the video data preprocessor. Importing this package registers them."""
from . import backbones, data_preprocessor, heads, losses  # noqa: F401
