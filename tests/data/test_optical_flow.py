"""Tests of the OpenCV flow wrapper in vidft.data.optical_flow."""
import cv2
import numpy as np
import pytest

from vidft.data.optical_flow import make_flow_function

SHIFT = 2


def shifted_pair(height: int, width: int):
    """Grey frames whose content moves ``SHIFT`` pixels to the left from
    the first to the second, so the flow from the first to the second is
    ``-SHIFT`` horizontally."""
    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 256, (60, 80)).astype(np.uint8), (640, 480),
                         interpolation=cv2.INTER_CUBIC)
    source = texture[50:50 + height, 100:100 + width]
    target = texture[50:50 + height, 100 + SHIFT:100 + SHIFT + width]
    return np.ascontiguousarray(source), np.ascontiguousarray(target)


@pytest.mark.parametrize('preset', ['ultrafast', 'fast', 'medium'])
@pytest.mark.parametrize('shape, tolerance', [((5, 40), 0.1), ((12, 12), 0.8),
                                              ((17, 300), 0.1), ((300, 17), 0.6)])
def test_dis_pads_small_frames(preset, shape, tolerance):
    # OpenCV's DIS raises an error on such frames or crashes the process.
    # The wrapper pads them and crops the flow back.
    source, target = shifted_pair(*shape)
    flow = make_flow_function(dict(method='dis', preset=preset))(source, target)
    assert flow.shape == (*shape, 2)
    assert abs(np.median(flow[..., 0]) + SHIFT) < tolerance
    assert abs(np.median(flow[..., 1])) < tolerance
