"""A linear classification head with cross-entropy loss."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from vidft.registry import HEADS

VIEW_AVERAGES = ('prob', 'score')


@HEADS.register_module()
class ClsHead(BaseModule):
    """Global average pooling, dropout and a linear classifier.

    The input is a feature map ``(N, C, ...)`` of any number of spatial or
    temporal dimensions, which are averaged, or pooled features ``(N, C)``.

    Args:
        num_classes: Number of classes.
        in_channels: Channels of the input features.
        dropout_ratio: Dropout probability before the linear layer. 0
            disables dropout.
        init_std: Standard deviation of the normal initialisation of the
            linear weight (the bias starts at 0).
        label_smoothing: Label smoothing of the cross-entropy loss, in
            [0, 1).
        loss_weight: Factor on the cross-entropy loss.
        average_views: How :meth:`predict` merges the views of a multi-view
            test (several clips or crops per video): ``'prob'`` averages the
            softmax probabilities, ``'score'`` averages the logits and then
            applies softmax.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 dropout_ratio: float = 0.5, init_std: float = 0.01,
                 label_smoothing: float = 0.0, loss_weight: float = 1.0,
                 average_views: str = 'prob') -> None:
        super().__init__(init_cfg=None)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'expected num_classes >= 1, got {num_classes!r}')
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f'expected in_channels >= 1, got {in_channels!r}')
        if not 0 <= dropout_ratio < 1:
            raise ValueError(f'expected dropout_ratio in [0, 1), got '
                             f'{dropout_ratio!r}')
        if not 0 <= label_smoothing < 1:
            raise ValueError(f'expected label_smoothing in [0, 1), got '
                             f'{label_smoothing!r}')
        if average_views not in VIEW_AVERAGES:
            raise ValueError(f'expected average_views in {VIEW_AVERAGES}, '
                             f'got {average_views!r}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.init_std = init_std
        self.label_smoothing = label_smoothing
        self.loss_weight = loss_weight
        self.average_views = average_views

        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 \
            else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the linear layer: normal(0, init_std) weight, zero
        bias."""
        nn.init.normal_(self.fc.weight, mean=0.0, std=self.init_std)
        nn.init.zeros_(self.fc.bias)

    def init_weights(self) -> None:
        # The layer is initialised in __init__, and a later call from the
        # Runner must not undo weights loaded in between.
        self._is_init = True

    def forward(self, x: Tensor) -> Tensor:
        """Return class logits ``(N, num_classes)``."""
        if x.dim() > 2:
            x = x.flatten(2).mean(dim=2)
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'expected features (N, {self.in_channels}, ...), got shape '
                f"{tuple(x.shape)}. Set in_channels to the backbone's "
                'out_channels.')
        return self.fc(self.dropout(x))

    def loss(self, x: Tensor, data_samples: Sequence) -> Dict[str, Tensor]:
        """Return the cross-entropy ``'loss'`` and the batch top-1 ``'acc'``.

        ``data_samples`` carry ``gt_label``, one class index per sample.
        """
        scores = self(x)
        labels = gt_labels(data_samples, scores.device)
        if labels.shape[0] != scores.shape[0]:
            raise ValueError(f'expected one label per sample, got '
                             f'{labels.shape[0]} labels for '
                             f'{scores.shape[0]} samples')
        loss = F.cross_entropy(scores, labels,
                               label_smoothing=self.label_smoothing)
        with torch.no_grad():
            acc = (scores.argmax(dim=1) == labels).float().mean()
        return {'loss': loss * self.loss_weight, 'acc': acc}

    def predict(self, x: Tensor, data_samples: Optional[Sequence] = None,
                num_views: int = 1) -> List:
        """Fill ``pred_score`` (class probabilities) and ``pred_label``.

        Args:
            x: Features of ``N * num_views`` inputs, the views of each
                sample next to each other.
            data_samples: One :class:`~vidft.structures.VideoDataSample` per
                sample, updated in place. New ones are made when None.
            num_views: Views per sample, merged by ``average_views``.
        """
        scores = self(x)
        if scores.shape[0] % num_views:
            raise ValueError(f'expected a multiple of num_views={num_views} '
                             f'inputs, got {scores.shape[0]}')
        scores = scores.view(-1, num_views, self.num_classes)
        if self.average_views == 'prob':
            probs = scores.softmax(dim=2).mean(dim=1)
        else:
            probs = scores.mean(dim=1).softmax(dim=1)

        if data_samples is None:
            from vidft.structures import VideoDataSample
            data_samples = [VideoDataSample() for _ in range(probs.shape[0])]
        if len(data_samples) != probs.shape[0]:
            raise ValueError(f'expected {probs.shape[0]} data samples, got '
                             f'{len(data_samples)}')
        for sample, prob in zip(data_samples, probs):
            sample.pred_score = prob.detach()
            sample.pred_label = prob.argmax().detach()
        return list(data_samples)


def gt_labels(data_samples: Sequence, device: torch.device) -> Tensor:
    """Stack the ``gt_label`` of each data sample into a LongTensor
    ``(N,)``."""
    labels = []
    for index, sample in enumerate(data_samples):
        label = getattr(sample, 'gt_label', None)
        if label is None:
            raise ValueError(f'data sample {index} has no gt_label. The '
                             "dataset must provide 'label' for training.")
        label = torch.as_tensor(label).reshape(-1)
        if label.numel() != 1:
            raise ValueError(f'expected one class index per sample, got '
                             f'gt_label of shape {tuple(label.shape)} for '
                             f'sample {index}')
        labels.append(label)
    return torch.cat(labels).to(device=device, dtype=torch.long)
