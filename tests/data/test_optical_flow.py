"""Tests of the OpenCV flow wrapper in vidft.data.optical_flow."""
import numpy as np
import pytest

from vidft.data.optical_flow import make_flow_function


@pytest.mark.parametrize('preset', ['ultrafast', 'fast', 'medium'])
@pytest.mark.parametrize('shape', [(5, 40), (12, 12), (17, 300), (300, 17)])
def test_dis_pads_small_frames(preset, shape):
    # OpenCV's DIS raises an error on such frames or crashes the process.
    # The wrapper pads them and crops the flow back.
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, shape, dtype=np.uint8)
    flow = make_flow_function(dict(method='dis', preset=preset))(source, source)
    assert flow.shape == (*shape, 2)
    assert np.abs(flow).max() < 1.0
