"""The base class of vidft's video datasets."""
import logging
import os.path as osp
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from ...registry import DATASETS, TRANSFORMS
from ..timeout import decode_timeout as _decode_timeout
from ..video import VideoDecodeError

#: Errors that mark a sample as bad (a broken, missing or unreadable file),
#: as opposed to bugs in the pipeline, which always propagate.
BAD_SAMPLE_ERRORS = (VideoDecodeError, OSError)

#: Replacement samples one ``__getitem__`` tries with ``on_bad_sample='skip'``
#: before it gives up.
MAX_SAMPLE_RETRIES = 10

BAD_SAMPLE_POLICIES = ('raise', 'skip')

# Bad files a report names before it only counts them.
_MAX_FILES_NAMED = 5


class BadSampleError(RuntimeError):
    """A sample that could not be loaded: ``index`` is the sample index,
    ``source`` its file or frame folder and ``reason`` what failed."""

    def __init__(self, index: int, source: str, reason: str) -> None:
        super().__init__(f'sample {index} ({source}): {reason}')
        self.index = index
        self.source = source
        self.reason = reason


class InvalidOutputError(ValueError):
    """A pipeline output that is empty or shaped unlike the other samples'."""


@DATASETS.register_module()
class BaseVideoDataset(BaseDataset):
    """A dataset of videos or frame folders with a data pipeline.

    Subclasses implement ``load_data_list``; :mod:`vidft.data.annotations`
    parses the common list files. Used directly, it reads mmengine's
    OpenMMLab 2.0 JSON annotation format.

    **Sample dict.** ``load_data_list`` returns one dict per sample, and the
    transforms add keys as the sample moves through the pipeline (mmaction2
    conventions):

    ==================  =====================================================
    ``filename``        video file (video datasets)
    ``frame_dir``       folder of frame images (frame-folder datasets)
    ``label``           class index, list of class indices (multi-label) or,
                        with ``multi_class=True``, a float one-hot tensor
    ``sample_idx``      index of the sample in the dataset (added here)
    ``start_index``     index of the first frame: 0 for videos, usually 1
                        for ``img_00001.jpg`` (added here when missing)
    ``total_frames``    frames that really decode (``VideoInit``), or the
                        count from the annotation (frame folders)
    ``fps``             average frame rate (``VideoInit``)
    ``video_reader``    open reader between ``VideoInit`` and
                        ``VideoDecode``
    ``frame_inds``      sampled frame indices, clips concatenated, start
                        index included (``SampleFrames``)
    ``clip_len``        frames per clip (``SampleFrames``)
    ``frame_interval``  frames between sampled frames (``SampleFrames``)
    ``num_clips``       clips per sample (``SampleFrames``)
    ``num_crops``       crops per clip of multi-crop testing (``ThreeCrop``,
                        ``TenCrop``); absent means 1
    ``imgs``            frames: RGB ``uint8`` ``(N, H, W, C)`` numpy array
                        until ``FormatShape`` gives it the model layout
    ``original_shape``  ``(H, W)`` as decoded
    ``img_shape``       ``(H, W)`` after the spatial transforms
    ==================  =====================================================

    ``PackVideoInputs`` turns the dict into ``{'inputs': Tensor,
    'data_samples': VideoDataSample}``.

    **Bad samples.** A sample whose file fails to load (the errors in
    :data:`BAD_SAMPLE_ERRORS`), or whose pipeline output is empty or has a
    different number of frames, views or channels than the first good
    sample, is bad:

    * ``on_bad_sample='raise'`` (default) raises :class:`BadSampleError`
      naming the file, the sample index and the decoder's message;
    * ``on_bad_sample='skip'`` replaces it by a random other sample (up to
      :data:`MAX_SAMPLE_RETRIES` tries), logs a warning the first time each
      sample fails, and counts. :meth:`report_bad_samples` logs and returns
      the count since its last call; a hook calls it at the end of each
      epoch. Once more than ``max_bad_fraction`` of the samples have failed,
      loading raises. In test mode a replacement sample is evaluated twice,
      so the report matters there too.

    The counts live in shared memory, so the data loader's worker processes
    add to the same counts that the main process reports.
    NOTE: with ``lazy_init=True`` and no ``full_init()`` call before the data
    loader starts, each worker gets its own counts and the report misses
    them.

    Args:
        ann_file: Annotation file, relative to ``data_root``.
        pipeline: Transforms, as configs (built from vidft's TRANSFORMS) or
            callables.
        data_root: Root folder of the annotation file and the data.
        data_prefix: Folders the subclass joins to file names, relative to
            ``data_root``; ``video`` by convention.
        start_index: Default ``start_index`` of samples that have none.
        multi_class: Turn lists of class indices into one-hot tensors of
            ``num_classes`` classes.
        num_classes: Number of classes; required with ``multi_class``.
        on_bad_sample: 'raise' or 'skip' (see above).
        max_bad_fraction: Largest fraction of samples that may fail with
            ``on_bad_sample='skip'`` before loading raises.
        decode_timeout: Seconds one attempt at loading a sample (the whole
            pipeline) may take; a slower attempt raises
            :class:`~vidft.data.timeout.DecodeTimeoutError` and counts as a
            bad sample. ``None`` (default) or 0: no limit. Enforced with
            ``SIGALRM`` in the main thread of the process that loads, such as
            a data loader worker; see :mod:`vidft.data.timeout` for the
            limits.
        test_mode: Whether this is a validation or test dataset.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self,
                 ann_file: str = '',
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 data_root: Optional[str] = '',
                 data_prefix: Optional[dict] = None,
                 start_index: int = 0,
                 multi_class: bool = False,
                 num_classes: Optional[int] = None,
                 on_bad_sample: str = 'raise',
                 max_bad_fraction: float = 0.01,
                 decode_timeout: Optional[float] = None,
                 test_mode: bool = False,
                 **kwargs: Any) -> None:
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ValueError(f'expected on_bad_sample in '
                             f'{BAD_SAMPLE_POLICIES}, got {on_bad_sample!r}')
        if not 0 <= max_bad_fraction <= 1:
            raise ValueError(f'expected max_bad_fraction in [0, 1], got '
                             f'{max_bad_fraction!r}')
        if decode_timeout is not None and not decode_timeout >= 0:
            raise ValueError(f'expected decode_timeout >= 0 seconds (None or '
                             f'0: no limit), got {decode_timeout!r}')
        if multi_class and not (num_classes and num_classes > 0):
            raise ValueError(f'multi_class=True needs num_classes > 0, got '
                             f'{num_classes!r}')
        self.start_index = start_index
        self.multi_class = multi_class
        self.num_classes = num_classes
        self.on_bad_sample = on_bad_sample
        self.max_bad_fraction = max_bad_fraction
        self.decode_timeout = decode_timeout
        self._frame_dims: Optional[tuple] = None
        self._bad_counts = torch.zeros(0, dtype=torch.int32)
        self._reported = torch.zeros(1, dtype=torch.int64).share_memory_()
        transforms = [TRANSFORMS.build(t) if isinstance(t, dict) else t
                      for t in pipeline]
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=dict(video='') if data_prefix is None else data_prefix,
            pipeline=transforms,
            test_mode=test_mode,
            **kwargs)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        super().full_init()
        self._bad_counts = torch.zeros(len(self),
                                       dtype=torch.int32).share_memory_()

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Join ``data_prefix['video']`` to ``filename`` and ``frame_dir``."""
        info = dict(raw_data_info)
        prefix = self.data_prefix.get('video', '')
        for key in ('filename', 'frame_dir'):
            if prefix and key in info:
                info[key] = osp.join(prefix, info[key])
        return info

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info.setdefault('start_index', self.start_index)
        if self.multi_class and 'label' in info:
            labels = info['label']
            onehot = torch.zeros(self.num_classes)
            onehot[torch.as_tensor(labels, dtype=torch.long)] = 1.0
            info['label'] = onehot
        return info

    def __getitem__(self, idx: int) -> Any:
        if not self._fully_initialized:
            self.full_init()
        last_error: Optional[BadSampleError] = None
        for _ in range(MAX_SAMPLE_RETRIES + 1):
            try:
                with _decode_timeout(self.decode_timeout, self._source(idx)):
                    data = self.prepare_data(idx)
                self._check_output(data)
                return data
            except BAD_SAMPLE_ERRORS + (InvalidOutputError, ) as error:
                source = self._source(idx)
                # A decode error names its file, which the sample names too.
                cause = (error.reason if isinstance(error, VideoDecodeError)
                         and error.path == source else str(error))
                last_error = BadSampleError(idx, source,
                                            f'failed to load: {cause}')
                if self.on_bad_sample == 'raise':
                    raise BadSampleError(
                        idx, last_error.source, f'{last_error.reason}. Set '
                        "on_bad_sample='skip' to replace broken samples by "
                        'others.') from error
                self._record_bad_sample(last_error)
            idx = self._rand_another()
        raise BadSampleError(
            last_error.index, last_error.source,
            f'{last_error.reason}, and so did the {MAX_SAMPLE_RETRIES} '
            'replacement samples tried before it') from last_error

    def _source(self, idx: int) -> str:
        info = self.get_data_info(idx)
        return str(info.get('filename') or info.get('frame_dir')
                   or '<no file name>')

    def _check_output(self, data: Any) -> None:
        """Raise InvalidOutputError for an empty output or one whose frame,
        view or channel count differs from the first good sample's."""
        if data is None:
            raise InvalidOutputError('the pipeline returned None')
        frames = data.get('inputs', data.get('imgs')) if isinstance(
            data, dict) else None
        if not isinstance(frames, (torch.Tensor, np.ndarray)):
            return
        if frames.size == 0 if isinstance(frames, np.ndarray) else (
                frames.numel() == 0):
            raise InvalidOutputError(f'the pipeline produced an empty array '
                                     f'of shape {tuple(frames.shape)}')
        # All dimensions but H and W must match across samples.
        dims = (frames.ndim, ) + tuple(frames.shape[:-2])
        if self._frame_dims is None:
            self._frame_dims = dims
        elif dims != self._frame_dims:
            raise InvalidOutputError(
                f'the pipeline produced shape {tuple(frames.shape)}, but the '
                f'first sample had {self._frame_dims[1:]} before (H, W)')

    def _record_bad_sample(self, error: BadSampleError) -> None:
        first_failure = int(self._bad_counts[error.index]) == 0
        self._bad_counts[error.index] += 1
        if first_failure:
            print_log(f"{error}; replaced by another sample "
                      "(on_bad_sample='skip')", logger='current',
                      level=logging.WARNING)
        num_bad = int((self._bad_counts > 0).sum())
        if num_bad > self.max_bad_fraction * len(self):
            raise BadSampleError(
                error.index, error.source,
                f'{error.reason}; {num_bad} of {len(self)} samples have '
                f'failed to load, more than max_bad_fraction='
                f'{self.max_bad_fraction}. Fix or remove the broken files, or '
                'raise max_bad_fraction.')

    def bad_sample_indices(self) -> List[int]:
        """Return the indices of the samples that have failed so far."""
        return torch.nonzero(self._bad_counts).flatten().tolist()

    def count_unreported_bad_samples(self) -> int:
        """Return the number of bad-sample failures since the last
        :meth:`report_bad_samples` call, counted over all worker processes,
        without logging them."""
        return int(self._bad_counts.sum()) - int(self._reported[0])

    def report_bad_samples(self) -> int:
        """Log and return the number of bad-sample failures since the last
        call, counted over all worker processes.

        A hook calls it at the end of each epoch.
        """
        new = self.count_unreported_bad_samples()
        self._reported[0] += new
        if new:
            indices = self.bad_sample_indices()
            named = [self._source(i) for i in indices[:_MAX_FILES_NAMED]]
            more = len(indices) - len(named)
            print_log(
                f'{new} sample loads failed and were replaced since the last '
                f'report; {len(indices)} of {len(self)} samples have failed '
                f'so far: {", ".join(named)}'
                + (f' and {more} more' if more > 0 else ''),
                logger='current', level=logging.WARNING)
        return new
