"""Transforms that give the frames their model layout and pack a sample."""
from typing import Any, Dict, Sequence

import numpy as np
import torch

from ...registry import TRANSFORMS
from ...structures import VideoDataSample
from .base import VideoTransform, get_frames

INPUT_FORMATS = ('NCHW', 'NCTHW', 'NTCHW')


@TRANSFORMS.register_module()
class FormatShape(VideoTransform):
    """Arrange the ``(N, H, W, C)`` frames for the model.

    ``N = num_crops * num_clips * clip_len`` (crop-major, then clip, then
    time), where ``num_crops`` is 1 unless a multi-crop transform ran. With
    ``M = num_crops * num_clips`` views:

    * 'NCHW': ``(N, C, H, W)``, every frame of every view flattened, for 2D
      models (TSN, TSM) that fold time into the batch;
    * 'NCTHW': ``(M, C, T, H, W)`` for 3D models;
    * 'NTCHW': ``(M, T, C, H, W)``.

    The model averages the scores of the ``M`` views at test time.

    Args:
        input_format: One of :data:`INPUT_FORMATS`.
        collapse: Drop the view dimension of 'NCTHW' and 'NTCHW'. Raises if
            a sample has more than one view.

    Adds ``input_shape``.
    """

    def __init__(self, input_format: str, collapse: bool = False) -> None:
        if input_format not in INPUT_FORMATS:
            raise ValueError(f'expected input_format in {INPUT_FORMATS}, got '
                             f'{input_format!r}')
        if collapse and input_format == 'NCHW':
            raise ValueError("collapse=True needs input_format 'NCTHW' or "
                             "'NTCHW'; 'NCHW' has no view dimension")
        self.input_format = input_format
        self.collapse = collapse

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'FormatShape')
        if self.input_format == 'NCHW':
            shaped = frames.transpose(0, 3, 1, 2)
        else:
            shaped = self._split_views(frames, results)
            if self.input_format == 'NCTHW':
                shaped = shaped.transpose(0, 4, 1, 2, 3)
            else:
                shaped = shaped.transpose(0, 1, 4, 2, 3)
            if self.collapse:
                if shaped.shape[0] != 1:
                    raise ValueError(f'FormatShape(collapse=True) expected '
                                     f'one view, got {shaped.shape[0]}; set '
                                     'collapse=False for multi-view testing')
                shaped = shaped[0]
        results['imgs'] = np.ascontiguousarray(shaped)
        results['input_shape'] = results['imgs'].shape
        return results

    @staticmethod
    def _split_views(frames: np.ndarray,
                     results: Dict[str, Any]) -> np.ndarray:
        clip_len = int(results.get('clip_len', len(frames)))
        num_clips = int(results.get('num_clips', 1))
        if len(frames) % (clip_len * num_clips):
            raise ValueError(f'FormatShape expected a multiple of num_clips * '
                             f'clip_len = {num_clips} * {clip_len} frames, '
                             f'got {len(frames)}')
        return frames.reshape((-1, clip_len) + frames.shape[1:])


DEFAULT_META_KEYS = ('filename', 'frame_dir', 'sample_idx', 'total_frames',
                     'frame_inds', 'clip_len', 'frame_interval', 'num_clips',
                     'num_crops', 'fps', 'original_shape', 'img_shape',
                     'flip', 'flip_direction')


@TRANSFORMS.register_module()
class PackVideoInputs(VideoTransform):
    """Pack a sample into ``{'inputs': Tensor, 'data_samples':
    VideoDataSample}``.

    ``inputs`` is ``results['imgs']`` as a tensor (``uint8`` unless
    :class:`~.photometric.Normalize` ran). The data sample gets
    ``gt_label`` from ``results['label']`` when there is one, and the
    ``meta_keys`` present in the sample dict as meta information (absent keys
    are skipped, so one tuple serves videos and frame folders).

    Args:
        meta_keys: Keys of the sample dict to keep as meta information.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        if 'imgs' not in results:
            raise KeyError("PackVideoInputs expected frames in "
                           "results['imgs']; put a decode transform and "
                           'FormatShape before it in the pipeline')
        inputs = torch.from_numpy(np.ascontiguousarray(results['imgs']))
        data_sample = VideoDataSample()
        if results.get('label') is not None:
            data_sample.set_gt_label(results['label'])
        data_sample.set_metainfo({key: results[key]
                                  for key in self.meta_keys if key in results})
        return {'inputs': inputs, 'data_samples': data_sample}
