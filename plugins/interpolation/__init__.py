"""Frame-interpolation plugin of vidft (scope ``interpolation``).

Importing the package registers its components:

* ``models``: the RIFE-style model and the frame-averaging and nearest-frame
  baselines;
* ``losses``: the Laplacian-pyramid and census losses;
* ``datasets``: the Vimeo-90K and video-tuple datasets and their transforms;
* ``evaluation``: the PSNR / SSIM / IE metric;
* ``inference``: the video inferencer.
"""
from . import datasets, evaluation, inference, losses, models  # noqa: F401

__all__ = ['datasets', 'evaluation', 'inference', 'losses', 'models']
