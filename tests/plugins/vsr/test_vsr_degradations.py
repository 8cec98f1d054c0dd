import numpy as np
import pytest
import torch
from PIL import Image

from vidft_vsr.degradations import (bicubic_downsample, cubic_kernel,
                                    degrade_frames, imresize, imresize_torch,
                                    mod_crop, resize_matrix)


def test_cubic_kernel_values_a_minus_half():
    # Keys' kernel with a = -0.5 evaluated by hand:
    # |x| <= 1: 1.5|x|^3 - 2.5|x|^2 + 1; 1 < |x| < 2: -0.5|x|^3 + 2.5|x|^2
    # - 4|x| + 2.
    points = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, -0.5])
    expected = [1.0, 0.8671875, 0.5625, 0.2265625, 0.0, -0.0703125,
                -0.0625, -0.0234375, 0.0, 0.5625]
    assert cubic_kernel(points) == pytest.approx(expected)


def test_downsample_x2_weights_hand_computed():
    # Halving: an output pixel centre lies midway between two input pixels,
    # at distances 0.5, 1.5, 2.5, 3.5 on each side. The antialiasing kernel
    # is k(d / 2) / 2, i.e. k at 0.25, 0.75, 1.25, 1.75 halved (the sum of
    # k over both sides is 2, so after normalisation the weights are k / 2).
    half = np.array([0.8671875, 0.2265625, -0.0703125, -0.0234375]) / 2
    expected = np.concatenate([half[::-1], half])

    signal = np.zeros(32)
    signal[16] = 1.0  # an impulse far from the borders
    matrix = resize_matrix(32, 16)
    # Output pixel 8 is centred at input coordinate 16.5.
    assert matrix[8, 13:21] == pytest.approx(expected)
    assert matrix[8, :13].sum() == 0
    assert matrix[8, 21:].sum() == 0
    # Outputs 6 to 9 are centred 3.5, 1.5, 0.5 and 2.5 pixels from the
    # impulse, so the impulse response samples the same kernel.
    output = matrix @ signal
    assert output[6:10] == pytest.approx(
        [half[3], half[1], half[0], half[2]])


def test_rows_sum_to_one_and_borders_mirror():
    matrix = resize_matrix(10, 3)
    assert matrix.sum(axis=1) == pytest.approx(np.ones(3))
    ramp = np.arange(10, dtype=np.float64)
    # Symmetric padding keeps a constant signal constant.
    assert matrix @ np.full(10, 7.0) == pytest.approx(np.full(3, 7.0))
    assert (matrix @ ramp)[1] == pytest.approx(4.5)


def test_matches_pil_bicubic_in_the_interior():
    # Pillow's float BICUBIC uses the same kernel (a = -0.5) and support
    # scaling; it treats borders differently, so compare away from them.
    rng = np.random.default_rng(0)
    image = rng.random((64, 48)).astype(np.float32)
    for size in ((16, 12), (128, 96)):
        ours = imresize(image, size)
        pil = np.asarray(
            Image.fromarray(image, mode='F').resize(size[::-1],
                                                    Image.BICUBIC))
        margin = 4
        assert np.abs(ours - pil)[margin:-margin, margin:-margin].max() < 1e-5


def test_uint8_rounding_and_torch_agree():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
    small = bicubic_downsample(image, 4)
    assert small.dtype == np.uint8
    assert small.shape == (5, 7, 3)
    as_float = imresize(image.astype(np.float64), (5, 7))
    assert np.array_equal(small, np.clip(np.round(as_float), 0, 255))

    tensor = torch.from_numpy(image).permute(2, 0, 1).double()
    resized = imresize_torch(tensor, (5, 7)).permute(1, 2, 0).numpy()
    assert np.allclose(resized, as_float)


def test_downsample_requires_multiple_of_scale():
    image = np.zeros((10, 13, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match='mod_crop'):
        bicubic_downsample(image, 4)
    assert mod_crop(image, 4).shape == (8, 12, 3)


def test_degrade_frames_options_change_output():
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (8, 8, 3))
    frames = np.kron(base, np.ones((4, 4, 1))).astype(np.uint8)[None]
    frames = np.repeat(frames, 2, axis=0)

    plain = degrade_frames(frames, 4)
    assert plain.shape == (2, 8, 8, 3)
    assert np.array_equal(plain[0], bicubic_downsample(frames[0], 4))

    blurred = degrade_frames(frames, 4, blur_sigma=2.0)
    assert blurred.std() < plain.std()

    noisy = degrade_frames(frames, 4, noise_sigma=10.0,
                           rng=np.random.default_rng(3))
    difference = noisy.astype(float) - plain
    assert 5 < difference.std() < 15
    # Noise is drawn independently per frame.
    assert not np.array_equal(noisy[0], noisy[1])

    low = degrade_frames(frames, 4, jpeg_quality=10)
    high = degrade_frames(frames, 4, jpeg_quality=95)
    assert not np.array_equal(low, plain)
    error_low = np.abs(low.astype(float) - plain).mean()
    error_high = np.abs(high.astype(float) - plain).mean()
    assert error_high < error_low
