"""The base class of vidft's data transforms."""
from typing import Any, Dict, Mapping, Optional

import numpy as np


class VideoTransform:
    """A data transform: a callable that updates the sample dict.

    The keys of the sample dict are documented once, in
    :class:`vidft.data.datasets.BaseVideoDataset`. Subclasses implement
    :meth:`transform` and take their randomness from ``np.random``, which
    mmengine seeds per worker.
    """

    def __call__(self, results: Dict[str, Any]) -> Dict[str, Any]:
        return self.transform(results)

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ', '.join(f'{name}={value!r}'
                           for name, value in vars(self).items()
                           if not name.startswith('_'))
        return f'{type(self).__name__}({fields})'


def get_frames(results: Dict[str, Any], transform: str) -> np.ndarray:
    """Return ``results['imgs']`` as one ``(N, H, W, C)`` array.

    ``N`` counts every frame of every clip and crop. A list of equally sized
    frames is stacked.
    """
    if 'imgs' not in results:
        raise KeyError(f"{transform} expected decoded frames in "
                       f"results['imgs']; put VideoDecode or RawFrameDecode "
                       f"before it in the pipeline")
    frames = results['imgs']
    if isinstance(frames, (list, tuple)):
        frames = np.stack(frames)
    if frames.ndim != 4:
        raise ValueError(f'{transform} expected frames of shape (N, H, W, C), '
                         f'got shape {frames.shape}; put it before '
                         'FormatShape in the pipeline')
    return frames


def check_label_map(label_map: Optional[Mapping[Any, Any]],
                    name: str) -> Dict[int, int]:
    """Return ``label_map`` as a dict of ints, or raise naming ``name``.

    A label map gives the class a sample becomes when a transform changes what
    its label means, for example a horizontal flip of a "pan left" clip.
    """
    if label_map is None:
        return {}
    if not isinstance(label_map, Mapping):
        raise TypeError(f'expected {name} to be a dict of class indices '
                        f'({{1: 2, 2: 1}}), got {label_map!r}')
    checked = {}
    for source, target in label_map.items():
        try:
            checked[int(source)] = int(target)
        except (TypeError, ValueError):
            raise TypeError(f'expected {name} to map class indices to class '
                            f'indices, got {source!r}: {target!r}') from None
    return checked


def map_label(results: Dict[str, Any], label_map: Dict[int, int]) -> None:
    """Replace an int ``results['label']`` found in ``label_map``."""
    label = results.get('label')
    if label_map and isinstance(label, (int, np.integer)):
        results['label'] = label_map.get(int(label), int(label))
