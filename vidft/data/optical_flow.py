"""Classical optical flow between two grey frames, from OpenCV.

Used where a task needs flow without a learned flow network: the temporal
loss of video stylization and the teacher flow of frame interpolation.
Flow conventions are those of :func:`vidft.models.ops.flow_warp`: ``(H, W,
2)`` float32 in pixels, channel 0 horizontal, and ``source(x) ~
target(x + flow(x))``, so that warping ``target`` with the flow gives
``source``.
"""
from typing import Any, Callable, Dict, Optional

import cv2
import numpy as np

FLOW_METHODS = ('dis', 'farneback')
DIS_PRESETS = {
    'ultrafast': cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    'fast': cv2.DISOPTICAL_FLOW_PRESET_FAST,
    'medium': cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
FARNEBACK_DEFAULTS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3,
                          poly_n=5, poly_sigma=1.2)

#: Smallest height and width given to DIS. Smaller frames are padded to it,
#: because OpenCV 5.1's DIS raises an error on frames with a side under 8
#: pixels. With a side of 8 to 31 it crashes the process (a segmentation
#: fault) for some presets and lengths of the other side.
DIS_MIN_SIDE = 32


def normalize_flow_settings(settings: Optional[Dict[str, Any]]
                            ) -> Dict[str, Any]:
    """Return complete flow settings with defaults filled in.

    ``dict(method='dis', preset='medium')`` (OpenCV's DIS optical flow) or
    ``dict(method='farneback', pyr_scale=0.5, levels=3, winsize=15,
    iterations=3, poly_n=5, poly_sigma=1.2)``.
    """
    settings = dict(settings or dict(method='dis'))
    method = settings.pop('method', 'dis')
    if method == 'dis':
        preset = settings.pop('preset', 'medium')
        if preset not in DIS_PRESETS:
            raise ValueError(f'expected a DIS preset in {sorted(DIS_PRESETS)}'
                             f', got {preset!r}')
        result = dict(method='dis', preset=preset)
    elif method == 'farneback':
        result = dict(method='farneback', **FARNEBACK_DEFAULTS)
        unknown = sorted(set(settings) - set(FARNEBACK_DEFAULTS))
        if unknown:
            raise ValueError(f'unknown Farneback settings {unknown}; valid: '
                             f'{sorted(FARNEBACK_DEFAULTS)}')
        result.update(settings)
        settings = {}
    else:
        raise ValueError(f'expected flow method in {FLOW_METHODS}, got '
                         f'{method!r}')
    if settings:
        raise ValueError(f'unknown settings {sorted(settings)} for flow '
                         f"method '{method}'")
    return result


def make_flow_function(settings: Dict[str, Any]
                       ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Return ``flow(source, target)`` for grey uint8 frames ``(H, W)``,
    giving float32 ``(H, W, 2)`` such that ``source(x) ~ target(x +
    flow(x))``."""
    settings = normalize_flow_settings(settings)
    if settings['method'] == 'dis':
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[settings['preset']])

        def dis_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
            height, width = source.shape[:2]
            pad_y, pad_x = max(DIS_MIN_SIDE - height, 0), max(DIS_MIN_SIDE - width, 0)
            if not (pad_y or pad_x):
                return dis.calc(source, target, None)
            source, target = (cv2.copyMakeBorder(frame, 0, pad_y, 0, pad_x,
                                                 cv2.BORDER_REPLICATE)
                              for frame in (source, target))
            return dis.calc(source, target, None)[:height, :width]

        return dis_flow

    params = {k: settings[k] for k in FARNEBACK_DEFAULTS}

    def farneback_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(
            source, target, None, params['pyr_scale'], params['levels'],
            params['winsize'], params['iterations'], params['poly_n'],
            params['poly_sigma'], 0)

    return farneback_flow
