"""Datasets, transforms and scene-cut detection for frame interpolation."""
from .scene_cut import (DEFAULT_CUT_THRESHOLD, SceneCutDetector, find_scene_cuts,
                        frame_difference, grey_thumbnail, spans_cut)
from .transforms import (LoadFrameTuple, PackInterpolationInputs, RandomCropTuple,
                         RandomFlipTuple, RandomTemporalFlip, SampleTimestep,
                         TeacherFlow)
from .video_tuples import VideoTupleDataset, expand_sources, scan_source
from .vimeo import Vimeo90KTripletDataset

__all__ = [
    'DEFAULT_CUT_THRESHOLD', 'SceneCutDetector', 'find_scene_cuts', 'frame_difference',
    'grey_thumbnail', 'spans_cut', 'LoadFrameTuple', 'PackInterpolationInputs',
    'RandomCropTuple', 'RandomFlipTuple', 'RandomTemporalFlip', 'SampleTimestep',
    'TeacherFlow',
    'VideoTupleDataset', 'expand_sources', 'scan_source', 'Vimeo90KTripletDataset'
]
