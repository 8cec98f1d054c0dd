"""Choosing a video backend by name."""
import importlib
from typing import Any, Dict, Tuple

from .base import VideoReader

#: Backend name -> (module, reader class). Modules are imported on first use,
#: so an optional backend costs nothing until a config names it.
BACKENDS: Dict[str, Tuple[str, str]] = {
    'pyav': ('vidft.data.video.pyav_backend', 'PyAVReader'),
    'opencv': ('vidft.data.video.opencv_backend', 'OpenCVReader'),
    'decord': ('vidft.data.video.decord_backend', 'DecordReader'),
}


def get_reader_class(backend: str) -> type:
    """Return the reader class of ``backend``, checking that it can run.

    Raises:
        ValueError: ``backend`` is not a known name.
        ImportError: the backend's package is not installed; the message
            names it.
    """
    if backend not in BACKENDS:
        raise ValueError(f"expected a video backend in {sorted(BACKENDS)}, "
                         f"got {backend!r}")
    module_name, class_name = BACKENDS[backend]
    module = importlib.import_module(module_name)
    # Backends on an optional package import it here, so that a missing
    # package fails when a pipeline is built, not in a data loader worker.
    requirement = getattr(module, 'import_requirement', None)
    if requirement is not None:
        requirement()
    return getattr(module, class_name)


def open_video(path: str, backend: str = 'pyav', **kwargs: Any) -> VideoReader:
    """Open ``path`` with the named backend.

    Args:
        path: Video file.
        backend: 'pyav' (default: seeks to keyframes), 'opencv' (decodes
            forward from the start) or 'decord' (needs the decord package).
        **kwargs: Passed to the reader class of the backend.

    Raises:
        ValueError: ``backend`` is not a known name.
        ImportError: the backend's package is not installed.
        VideoDecodeError: the file cannot be opened as a video.
    """
    return get_reader_class(backend)(path, **kwargs)
