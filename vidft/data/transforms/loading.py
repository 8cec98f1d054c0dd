"""Transforms that open videos and decode the sampled frames."""
import inspect
import os.path as osp
from typing import Any, Dict

import cv2
import numpy as np

from ...registry import TRANSFORMS
from ..video import VideoDecodeError, get_reader_class, open_video
from .base import VideoTransform


@TRANSFORMS.register_module()
class VideoInit(VideoTransform):
    """Open ``results['filename']`` and record how many frames decode.

    Adds ``video_reader``, ``total_frames`` (frames that really decode, not
    the count the container declares) and ``fps``. :class:`VideoDecode`
    closes the reader.

    Args:
        backend: 'pyav', 'opencv' or 'decord' (see
            :func:`vidft.data.video.open_video`).
        **reader_kwargs: Passed to the backend's reader, such as
            ``num_threads`` for 'pyav' and 'decord'.
    """

    def __init__(self, backend: str = 'pyav', **reader_kwargs: Any) -> None:
        reader_class = get_reader_class(backend)
        accepted = inspect.signature(reader_class.__init__).parameters
        unknown = sorted(set(reader_kwargs) - set(accepted) - {'self'})
        if unknown:
            options = sorted(set(accepted) - {'self', 'path'}) or ['none']
            raise TypeError(f"VideoInit(backend={backend!r}) got unknown "
                            f"reader options {unknown}; that backend accepts "
                            f"{options}")
        self.backend = backend
        self.reader_kwargs = reader_kwargs

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        reader = open_video(results['filename'], self.backend,
                            **self.reader_kwargs)
        results['video_reader'] = reader
        results['total_frames'] = len(reader)
        results['fps'] = reader.fps
        return results


@TRANSFORMS.register_module()
class VideoDecode(VideoTransform):
    """Decode the frames at ``results['frame_inds']`` and close the reader.

    Adds ``imgs`` (RGB ``uint8``, ``(N, H, W, 3)`` in the order of
    ``frame_inds``), ``original_shape`` and ``img_shape`` (both ``(H, W)``).
    """

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        if 'video_reader' not in results:
            raise KeyError("VideoDecode expected results['video_reader']; put "
                           'VideoInit before it in the pipeline')
        reader = results.pop('video_reader')
        try:
            frames = reader.get(np.asarray(results['frame_inds']).reshape(-1))
        finally:
            reader.close()
        results['imgs'] = frames
        results['original_shape'] = frames.shape[1:3]
        results['img_shape'] = frames.shape[1:3]
        return results


@TRANSFORMS.register_module()
class RawFrameDecode(VideoTransform):
    """Read the frames at ``results['frame_inds']`` from image files in
    ``results['frame_dir']``.

    Each distinct index is read once. Adds ``imgs`` (RGB ``uint8``),
    ``original_shape`` and ``img_shape``. A missing or unreadable image raises
    :class:`~vidft.data.video.VideoDecodeError` naming the file.

    Args:
        filename_tmpl: Name of frame ``i`` inside ``frame_dir``, formatted
            with ``filename_tmpl.format(i)``. The indices already include the
            dataset's ``start_index`` (1 for ``img_00001.jpg``).
    """

    def __init__(self, filename_tmpl: str = 'img_{:05d}.jpg') -> None:
        self.filename_tmpl = filename_tmpl

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        directory = results['frame_dir']
        indices = [
            int(i) for i in np.asarray(results['frame_inds']).reshape(-1)
        ]
        images: Dict[int, np.ndarray] = {}
        for index in sorted(set(indices)):
            images[index] = self._read(
                osp.join(directory, self.filename_tmpl.format(index)))

        sizes = {image.shape for image in images.values()}
        if len(sizes) > 1:
            raise VideoDecodeError(directory, f'frame images differ in size: '
                                   f'{sorted(sizes)}')
        frames = np.stack([images[index] for index in indices])
        results['imgs'] = frames
        results['original_shape'] = frames.shape[1:3]
        results['img_shape'] = frames.shape[1:3]
        return results

    @staticmethod
    def _read(path: str) -> np.ndarray:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            reason = ('the file does not exist' if not osp.exists(path) else
                      'OpenCV cannot decode the image')
            raise VideoDecodeError(path, f'cannot read the frame: {reason}')
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
