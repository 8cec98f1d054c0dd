"""Shared clip enumeration of the VSR datasets."""
import logging
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset

from vidft.registry import TRANSFORMS

logger = logging.getLogger(__name__)


class ClipDataset(BaseDataset):
    """Base of the VSR datasets: turns sequences into clips.

    Subclasses implement :meth:`load_sequences`, which returns one dict per
    sequence with ``sequence``, ``total_frames`` and either per-frame
    ``gt_paths`` (and optionally ``lr_paths``) or a video ``filename``.

    Args:
        data_root: Folder the dataset's relative paths start from.
        scale: Upscaling factor between LR and HR frames.
        num_frames: Frames per training clip; ``None`` makes each sample a
            whole sequence.
        clip_interval: Distance between the first frames of consecutive
            clips of one sequence.
        sequences: Keep only these sequences (a split by sequence).
        exclude_sequences: Drop these sequences (the complement split).
        pipeline: Transforms applied to each sample.
        test_mode: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self,
                 data_root: str,
                 scale: int = 4,
                 num_frames: Optional[int] = None,
                 clip_interval: int = 1,
                 sequences: Optional[Sequence[str]] = None,
                 exclude_sequences: Sequence[str] = (),
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False) -> None:
        if num_frames is not None and num_frames < 1:
            raise ValueError(f'expected num_frames >= 1 or None (whole '
                             f'sequences), got {num_frames}')
        if clip_interval < 1:
            raise ValueError(f'expected clip_interval >= 1, got '
                             f'{clip_interval}')
        self.scale = scale
        self.num_frames = num_frames
        self.clip_interval = clip_interval
        self.sequences = None if sequences is None else [
            str(s) for s in sequences
        ]
        self.exclude_sequences = {str(s) for s in exclude_sequences}
        # Built here because mmengine's root registry, which BaseDataset
        # uses, does not find 'vsr.' names outside a runner's scope.
        transforms = [
            TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in pipeline
        ]
        super().__init__(
            data_root=data_root,
            pipeline=transforms,
            test_mode=test_mode,
            serialize_data=False)

    def load_sequences(self) -> List[Dict]:
        raise NotImplementedError

    def _select(self, sequences: List[Dict]) -> List[Dict]:
        names = [s['sequence'] for s in sequences]
        if self.sequences is not None:
            missing = sorted(set(self.sequences) - set(names))
            if missing:
                raise ValueError(
                    f'sequences {missing} are not in the dataset under '
                    f'{self.data_root}; available: {sorted(names)[:20]}')
            sequences = [s for s in sequences
                         if s['sequence'] in self.sequences]
        return [s for s in sequences
                if s['sequence'] not in self.exclude_sequences]

    def _clip_starts(self, total: int) -> Iterator[int]:
        if self.num_frames is None:
            yield 0
            return
        yield from range(0, total - self.num_frames + 1, self.clip_interval)

    def load_data_list(self) -> List[dict]:
        clips = []
        for seq in self._select(self.load_sequences()):
            total = seq['total_frames']
            length = total if self.num_frames is None else self.num_frames
            if length > total:
                logger.warning(
                    'skipping sequence %s: it has %d frames, fewer than '
                    'num_frames=%d', seq['sequence'], total, length)
                continue
            for start in self._clip_starts(total):
                inds = list(range(start, start + length))
                clip = dict(seq, frame_inds=inds, scale=self.scale)
                for key in ('gt_paths', 'lr_paths'):
                    if key in seq:
                        clip[key] = [seq[key][i] for i in inds]
                clips.append(clip)
        if not clips:
            raise ValueError(
                f'{type(self).__name__} under {self.data_root} has no clip '
                f'of {self.num_frames} frames; check the paths, the '
                'sequence selection and num_frames')
        logger.info('%s: %d clips from %d sequences', type(self).__name__,
                    len(clips), len({c['sequence'] for c in clips}))
        return clips
