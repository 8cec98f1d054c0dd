"""Datasets of LR/HR clips.

Every dataset returns sample dicts with these keys, before the pipeline:

* ``sequence``: name of the source sequence or video;
* ``frame_inds``: indices of the clip's frames in the sequence;
* ``gt_paths`` / ``lr_paths``: HR / LR frame files, in clip order (frame
  folders), or ``filename`` and ``total_frames`` (video files, HR only);
* ``scale``: the upscaling factor.

The pipeline loads the frames into ``gt_imgs`` and ``lr_imgs`` (see
:mod:`vidft_vsr.transforms`). In training a dataset yields clips of
``num_frames`` frames starting every ``clip_interval`` frames. With
``num_frames=None`` (the validation setting) each sample is a whole
sequence, so every frame is evaluated exactly once.
"""
from .base import ClipDataset
from .hr_video import HRVideoDataset
from .reds import REDSDataset, parse_reds_meta
from .vimeo90k import Vimeo90KDataset

__all__ = [
    'ClipDataset', 'HRVideoDataset', 'REDSDataset', 'Vimeo90KDataset',
    'parse_reds_meta'
]
