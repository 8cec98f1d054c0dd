"""Window trajectories of the camera-motion demo, one per motion.

Geometry is in pixels of the *working frame*, a source frame resized so its
shorter side is ``WORKING_SIDE_FACTOR`` (see :mod:`.sources`) times the
output size. A clip's base window side ``s`` is
drawn from :data:`WINDOW_FRACTION_RANGE` times that shorter side, and its
position uniformly among the positions that keep the whole trajectory inside
the frame.

``static``
    The window stays in place.
``pan_left`` / ``pan_right``
    The window moves left / right by ``v * s / size`` working pixels per
    frame, with ``v`` drawn from :data:`PAN_SPEED_RANGE` (output pixels per
    frame), so the content moves right / left in the clip. The window
    shrinks when needed so that its travel fits.
``tilt_up`` / ``tilt_down``
    The same as a pan, along the vertical axis: the window moves up / down,
    so the content moves down / up in the clip.
``zoom_in`` / ``zoom_out``
    The window's side shrinks / grows by a factor ``r`` per frame, drawn
    from :data:`ZOOM_RATE_RANGE`, around a fixed centre, so the content is
    magnified / reduced by ``r`` per frame. Zoom-in starts at side ``s`` and
    zoom-out ends at it, so both span the same content scales.
"""
from typing import Any, Dict, Sequence, Tuple

import cv2
import numpy as np

# Every motion a clip can have; the demo's classes are a subset of these
# (see defaults.CLASSES).
MOTIONS: Tuple[str, ...] = ('static', 'pan_left', 'pan_right', 'tilt_up',
                            'tilt_down', 'zoom_in', 'zoom_out')
# Window speed of a pan, in output pixels per frame.
PAN_SPEED_RANGE = (3.0, 6.0)
# Scale change of a zoom per frame; 1.05 magnifies by 5 % per frame.
ZOOM_RATE_RANGE = (1.03, 1.06)
# Base window side as a fraction of the working frame's shorter side.
WINDOW_FRACTION_RANGE = (0.45, 0.75)

def draw_trajectory(label: str, frame_width: int, frame_height: int,
                    clip_len: int, size: int,
                    rng: np.random.Generator) -> Dict[str, Any]:
    """Draw a random window trajectory of the motion ``label``.

    Returns the parameters (``speed`` in output pixels per frame, ``zoom_rate``
    per frame) and the windows ``[x_left, y_top, side]`` of every frame, in
    working-frame pixels.
    """
    short_side = min(frame_width, frame_height)
    side = rng.uniform(*WINDOW_FRACTION_RANGE) * short_side
    steps = np.arange(clip_len, dtype=np.float64)
    speed, zoom_rate = 0.0, 1.0

    if label in ('pan_left', 'pan_right', 'tilt_up', 'tilt_down'):
        speed = float(rng.uniform(*PAN_SPEED_RANGE))
        horizontal = label.startswith('pan')
        extent, other_extent = ((frame_width, frame_height) if horizontal
                                else (frame_height, frame_width))
        # Shrink the window until the start window plus the travel fits.
        side = min(side, extent / (1 + speed * (clip_len - 1) / size))
        travel = speed * side / size * (clip_len - 1)
        first = rng.uniform(0, max(0.0, extent - side - travel))
        offsets = steps * speed * side / size
        if label in ('pan_left', 'tilt_up'):
            moving = first + travel - offsets
        else:
            moving = first + offsets
        fixed = np.full(clip_len, rng.uniform(0, other_extent - side))
        xs, ys = (moving, fixed) if horizontal else (fixed, moving)
        sides = np.full(clip_len, side)
    elif label in ('zoom_in', 'zoom_out'):
        zoom_rate = float(rng.uniform(*ZOOM_RATE_RANGE))
        exponents = steps if label == 'zoom_in' else steps[::-1]
        sides = side / zoom_rate**exponents
        centre_x = rng.uniform(0, frame_width - side) + side / 2
        centre_y = rng.uniform(0, frame_height - side) + side / 2
        xs = centre_x - sides / 2
        ys = centre_y - sides / 2
    elif label == 'static':
        xs = np.full(clip_len, rng.uniform(0, frame_width - side))
        ys = np.full(clip_len, rng.uniform(0, frame_height - side))
        sides = np.full(clip_len, side)
    else:
        raise ValueError(f'expected a motion in {MOTIONS}, got {label!r}')

    windows = np.stack([xs, ys, sides], axis=1)
    return {
        'speed': speed,
        'zoom_rate': zoom_rate,
        'windows': np.round(windows, 4).tolist(),
    }


def render_window(frame: np.ndarray, window: Sequence[float],
                  size: int) -> np.ndarray:
    """Resample the square ``window = (x_left, y_top, side)`` of ``frame`` to
    ``size x size`` pixels.

    Coordinates are continuous: pixel ``i`` covers ``[i, i + 1)``, so the
    window's edges map exactly onto the output's edges.
    """
    x_left, y_top, side = window
    scale = size / side
    matrix = np.array([[scale, 0.0, scale * (0.5 - x_left) - 0.5],
                       [0.0, scale, scale * (0.5 - y_top) - 0.5]])
    return cv2.warpAffine(frame, matrix, (size, size),
                          flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
