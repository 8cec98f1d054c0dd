"""The base class of vidft's data transforms."""
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np

#: A key of a label map: a class index, or a class name to be resolved.
ClassKey = Union[int, str]


class LabelMapError(ValueError):
    """A label map of a transform that does not fit the dataset's classes."""


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
                    name: str) -> Dict[ClassKey, ClassKey]:
    """Return ``label_map`` with class indices as ints and class names as
    str, or raise naming ``name``.

    A label map gives the class a sample becomes when a transform changes what
    its label means, for example a horizontal flip of a "pan left" clip.
    Class names (``{'pan_left': 'pan_right'}``) tie the map to the classes it
    was written for: a dataset with class names resolves them to indices
    when it loads, and rejects a name it does not have.
    """
    if label_map is None:
        return {}
    if not isinstance(label_map, Mapping):
        raise TypeError(f'expected {name} to be a dict of class indices or '
                        f'names ({{1: 2, 2: 1}}), got {label_map!r}')
    checked = {}
    for source, target in label_map.items():
        try:
            checked[_class_key(source)] = _class_key(target)
        except (TypeError, ValueError):
            raise TypeError(f'expected {name} to map class indices or names '
                            f'to class indices or names, got {source!r}: '
                            f'{target!r}') from None
    return checked


def _class_key(value: Any) -> ClassKey:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if isinstance(value, (bool, float)) or not isinstance(
            value, (int, np.integer)):
        raise TypeError(f'expected a class index or name, got {value!r}')
    return int(value)


def map_label(results: Dict[str, Any], label_map: Dict[ClassKey, ClassKey]
              ) -> None:
    """Replace an int ``results['label']`` found in ``label_map``.

    Raises:
        LabelMapError: the map still names classes, which only a dataset
            with class names resolves.
    """
    label = results.get('label')
    if not label_map or not isinstance(label, (int, np.integer)):
        return
    names = [key for pair in label_map.items() for key in pair
             if isinstance(key, str)]
    if names:
        raise LabelMapError(
            f'the label map {label_map} names classes ({names[0]!r}), which '
            'only a dataset with class names can turn into indices; give the '
            'dataset label_map=FILE, or write the map with class indices')
    results['label'] = label_map.get(int(label), int(label))
