"""Data structures passed between the data pipeline, models and metrics."""
from numbers import Integral
from typing import Sequence, Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement

LabelType = Union[torch.Tensor, np.ndarray, Sequence[int], int]


def format_label(value: LabelType) -> torch.Tensor:
    """Convert a label to a tensor.

    An int becomes a ``LongTensor`` of shape ``(1,)``; a sequence of ints
    (multi-label class indices) a ``LongTensor`` of shape ``(k,)``. Tensors
    and arrays keep their dtype, so a float one-hot or soft-label vector
    stays float.
    """
    if isinstance(value, torch.Tensor):
        label = value
    elif isinstance(value, np.ndarray):
        label = torch.from_numpy(value)
    elif isinstance(value, Integral) and not isinstance(value, bool):
        label = torch.tensor([int(value)], dtype=torch.long)
    elif isinstance(value, Sequence) and not isinstance(value, str) and all(
            isinstance(v, Integral) and not isinstance(v, bool)
            for v in value):
        label = torch.tensor([int(v) for v in value], dtype=torch.long)
    else:
        raise TypeError(f'expected a label as an int, a sequence of ints, '
                        f'an array or a tensor, got {type(value).__name__}: '
                        f'{value!r}')
    return label.reshape(-1) if label.ndim == 0 else label


class VideoDataSample(BaseDataElement):
    """Annotations and predictions of one video sample.

    Data fields:

    * ``gt_label``: the ground truth, as :func:`format_label` makes it;
    * ``pred_score``: class scores, a float tensor of shape
      ``(num_classes,)``, averaged over the views of a multi-view test;
    * ``pred_label``: the predicted class index, a ``LongTensor`` of shape
      ``(1,)``.

    Meta information (``set_metainfo``) contains what
    :class:`vidft.data.transforms.PackVideoInputs` keeps, such as
    ``filename`` and ``frame_inds``.
    """

    def set_gt_label(self, value: LabelType) -> 'VideoDataSample':
        """Set ``gt_label`` and return the sample."""
        self.gt_label = value
        return self

    def set_pred_label(self, value: LabelType) -> 'VideoDataSample':
        """Set ``pred_label`` and return the sample."""
        self.pred_label = value
        return self

    def set_pred_score(self, value: torch.Tensor) -> 'VideoDataSample':
        """Set ``pred_score`` and return the sample."""
        self.pred_score = value
        return self

    @property
    def gt_label(self) -> torch.Tensor:
        return self._gt_label

    @gt_label.setter
    def gt_label(self, value: LabelType) -> None:
        self.set_field(format_label(value), '_gt_label', dtype=torch.Tensor)

    @gt_label.deleter
    def gt_label(self) -> None:
        del self._gt_label

    @property
    def pred_label(self) -> torch.Tensor:
        return self._pred_label

    @pred_label.setter
    def pred_label(self, value: LabelType) -> None:
        self.set_field(format_label(value), '_pred_label', dtype=torch.Tensor)

    @pred_label.deleter
    def pred_label(self) -> None:
        del self._pred_label

    @property
    def pred_score(self) -> torch.Tensor:
        return self._pred_score

    @pred_score.setter
    def pred_score(self, value: Union[torch.Tensor, np.ndarray]) -> None:
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(value, torch.Tensor) or value.ndim != 1:
            raise TypeError(f'expected pred_score as a 1-D tensor of class '
                            f'scores, got {value!r}')
        self.set_field(value, '_pred_score', dtype=torch.Tensor)

    @pred_score.deleter
    def pred_score(self) -> None:
        del self._pred_score
