"""Frame-accurate video reading behind one interface.

``open_video(path, backend)`` returns a :class:`VideoReader`. Frame ``i`` is
the ``i``-th frame of a full sequential decode of the file with that
backend, whatever the container declares. Each backend's module explains how
it gets there cheaply. :class:`VideoWriter` writes the output videos of the
inferencers.
"""
from .base import (INDEX_CACHE, INDEX_CACHE_SIZE, MAX_DECODE_ATTEMPTS,
                   OUTPUT_FORMATS, VideoDecodeError, VideoReader,
                   check_decoded_count)
from .frame_cache import DecodedFrameCache
from .frame_folder import (FRAME_EXTENSIONS, FrameFolderError, frame_sort_key,
                           list_frame_files)
from .open import BACKENDS, get_reader_class, open_video
from .writer import (PARTIAL_TAG, VideoEncodeError, VideoWriter,
                     default_output_path, fps_fraction, make_partial_file)

__all__ = [
    'BACKENDS', 'DecodedFrameCache', 'FRAME_EXTENSIONS', 'FrameFolderError',
    'INDEX_CACHE', 'INDEX_CACHE_SIZE', 'MAX_DECODE_ATTEMPTS', 'OUTPUT_FORMATS',
    'PARTIAL_TAG', 'VideoDecodeError', 'VideoEncodeError', 'VideoReader',
    'VideoWriter', 'check_decoded_count', 'default_output_path',
    'fps_fraction', 'frame_sort_key', 'get_reader_class', 'list_frame_files',
    'make_partial_file', 'open_video'
]
