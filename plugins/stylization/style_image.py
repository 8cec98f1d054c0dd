"""Reading style images and the default style image.

Any RGB or grey image file that OpenCV reads (PNG, JPEG, BMP, TIFF, WebP)
can be a style image: set ``style_image='/path/to/painting.jpg'`` in the
config. ``'skimage://<file name>'`` names an image in the data folder that
scikit-image installs (``skimage/data``), which is how the defaults avoid
any file outside installed packages.

The default, :data:`DEFAULT_STYLE_IMAGE`, is scikit-image's
``ihc.png`` (``skimage.data.immunohistochemistry()``, 512x512): a stained
tissue section whose brown cell walls on a pale blue ground look like
brush strokes and fill the whole frame. Among the colour images
scikit-image ships it is the most painting-like texture: the Hubble deep
field is mostly black, so its Gram matrices would darken every output, and
``astronaut``, ``coffee`` and ``rocket`` are ordinary photos.
"""
import importlib.util
import os.path as osp
from typing import Optional, Union

import cv2
import numpy as np

SKIMAGE_SCHEME = 'skimage://'
DEFAULT_STYLE_IMAGE = SKIMAGE_SCHEME + 'ihc.png'


def skimage_data_folder() -> str:
    """Return the folder of the images that scikit-image installs."""
    spec = importlib.util.find_spec('skimage')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f'{SKIMAGE_SCHEME!r} style images need scikit-image; install it '
            'with pip install scikit-image, or set style_image to a file')
    return osp.join(spec.submodule_search_locations[0], 'data')


def resolve_style_path(source: Optional[str]) -> str:
    """Return the file that ``source`` names (None: the default image)."""
    source = DEFAULT_STYLE_IMAGE if source is None else source
    if not isinstance(source, str) or not source:
        raise TypeError(f'expected style_image to be a file path or '
                        f"'{SKIMAGE_SCHEME}<file>', got {source!r}")
    if source.startswith(SKIMAGE_SCHEME):
        path = osp.join(skimage_data_folder(), source[len(SKIMAGE_SCHEME):])
    else:
        path = osp.expanduser(source)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'style image not found: {path} (from style_image={source!r}); '
            'set style_image to an existing image file')
    return path


def load_style_image(source: Union[str, np.ndarray, None] = None,
                     max_size: Optional[int] = None) -> np.ndarray:
    """Read a style image as uint8 RGB ``(H, W, 3)``.

    Args:
        source: A file path, ``'skimage://<file name>'``, an RGB uint8
            array, or None for :data:`DEFAULT_STYLE_IMAGE`.
        max_size: Resize (area interpolation, aspect ratio kept) so that
            the longer side is this many pixels; None keeps the size.
    """
    if isinstance(source, np.ndarray):
        image = source
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'expected a uint8 RGB array (H, W, 3), got '
                             f'{image.dtype} {image.shape}')
    else:
        path = resolve_style_path(source)
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f'OpenCV cannot decode the style image {path}; '
                             'convert it to PNG or JPEG')
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    if max_size is not None:
        if max_size < 1:
            raise ValueError(f'expected style_size >= 1 or None, got '
                             f'{max_size}')
        h, w = image.shape[:2]
        factor = max_size / max(h, w)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        image = cv2.resize(image, size, interpolation=interpolation)
    return np.ascontiguousarray(image)
