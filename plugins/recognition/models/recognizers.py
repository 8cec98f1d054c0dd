"""Action recognizers: a backbone, a classification head and view averaging.

Input layouts, after the data preprocessor has batched the samples:

* :class:`Recognizer2D` (TSN, TSM): ``(N, T, C, H, W)``, T frames per
  sample (``FormatShape('NCHW')``), or ``(N, V, T, C, H, W)`` for V views
  of T segments (``FormatShape('NTCHW')``). A view is one set of segments
  of one crop in a multi-view test.
* :class:`Recognizer3D`: ``(N, C, T, H, W)`` or ``(N, V, C, T, H, W)``
  (``FormatShape('NCTHW')``).

In ``predict`` mode the V views of a sample are merged by the head
(``average_views``). ``loss`` mode expects one view per sample.
"""
from typing import Dict, List, Optional, Tuple, Union

from mmengine.model import BaseModel
from torch import Tensor, nn

from vidft.registry import BACKBONES, HEADS
from vidft.registry import MODELS as VIDFT_MODELS

from ..registry import MODELS
from .tsm import insert_temporal_shift

ForwardResults = Union[Dict[str, Tensor], List, Tensor]


class BaseRecognizer(BaseModel):
    """Shared part of :class:`Recognizer2D` and :class:`Recognizer3D`.

    Args:
        backbone: Config of the backbone (``type='TimmBackbone'``,
            ``'TorchvisionBackbone'``, ``'recognition.ResNet3d'``, ...).
        cls_head: Config of the head, normally ``type='ClsHead'``. When
            ``in_channels`` is left out it is taken from the backbone's
            ``out_channels``.
        data_preprocessor: Config of the data preprocessor, normally
            ``type='VideoDataPreprocessor'``. None uses mmengine's
            ``BaseDataPreprocessor``, which only moves data to the device.
    """

    def __init__(self, backbone: dict, cls_head: dict,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None
                 ) -> None:
        if isinstance(data_preprocessor, dict):
            # Built from vidft's registry so that no default scope is needed.
            data_preprocessor = VIDFT_MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor)
        self.backbone = BACKBONES.build(backbone)
        cls_head = dict(cls_head)
        if 'in_channels' not in cls_head:
            out_channels = getattr(self.backbone, 'out_channels', None)
            if out_channels is None:
                raise ValueError(
                    f'{type(self.backbone).__name__} has no out_channels. '
                    'Set in_channels in the cls_head config.')
            cls_head['in_channels'] = out_channels
        self.cls_head = HEADS.build(cls_head)

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, int]:
        """Return features of every view and the number of views per sample."""
        raise NotImplementedError

    def forward(self, inputs: Tensor, data_samples: Optional[List] = None,
                mode: str = 'tensor') -> ForwardResults:
        """Run the model in one of mmengine's modes.

        * ``'loss'``: a dict with the cross-entropy ``'loss'`` and the batch
          top-1 accuracy ``'acc'`` (logged, not optimised);
        * ``'predict'``: ``data_samples`` with ``pred_score`` (class
          probabilities) and ``pred_label`` filled in;
        * ``'tensor'``: class logits ``(N, num_classes)``, averaged over
          views.
        """
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f"expected mode 'loss', 'predict' or 'tensor', "
                             f'got {mode!r}')
        features, num_views = self.extract_feat(inputs)
        if mode == 'loss':
            if num_views != 1:
                raise ValueError(f'expected one view per sample in training, '
                                 f'got {num_views}. Multi-view inputs are '
                                 'for testing.')
            return self.cls_head.loss(features, data_samples)
        if mode == 'predict':
            return self.cls_head.predict(features, data_samples, num_views)
        scores = self.cls_head(features)
        return scores.view(-1, num_views, scores.shape[-1]).mean(dim=1)

    def layer_groups(self) -> List[List[str]]:
        """Return the backbone's parameter names grouped from the input to
        the output.

        A backbone without ``layer_groups()`` is one group. The head is in no
        group, so layer-wise learning-rate decay
        (``VidftOptimWrapperConstructor``) leaves its learning rate at the
        base value.
        """
        if hasattr(self.backbone, 'layer_groups'):
            return [[f'backbone.{name}' for name in group]
                    for group in self.backbone.layer_groups()]
        return [[f'backbone.{name}' for name, _ in
                 self.backbone.named_parameters()]]

    def _single_output(self, features: object) -> Tensor:
        if not isinstance(features, Tensor):
            raise TypeError(
                f'expected the backbone to return one tensor, got '
                f'{type(features).__name__}. Remove out_indices and '
                'feature_names from the backbone config.')
        return features


@MODELS.register_module()
class Recognizer2D(BaseRecognizer):
    """TSN and TSM: a 2D backbone on every segment, averaged over segments.

    Each of the T segments of a clip goes through the backbone on its own.
    Its features are averaged over space, then over the segments (TSN's
    average consensus). The head's dropout and linear layer classify the
    result.

    Args:
        backbone: Config of a 2D backbone (``TimmBackbone``,
            ``TorchvisionBackbone``).
        cls_head: Config of the head, see :class:`BaseRecognizer`.
        temporal_shift: Insert TSM shifts into the backbone's residual
            blocks: ``dict(num_segments=8, shift_div=8)``. Inputs must then
            have exactly ``num_segments`` segments per view. None (TSN) adds
            none.
        data_preprocessor: See :class:`BaseRecognizer`.
    """

    def __init__(self, backbone: dict, cls_head: dict,
                 temporal_shift: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None
                 ) -> None:
        super().__init__(backbone, cls_head, data_preprocessor)
        self.num_segments: Optional[int] = None
        if temporal_shift is not None:
            options = dict(temporal_shift)
            if 'num_segments' not in options:
                raise ValueError('temporal_shift needs num_segments, the '
                                 'segments per clip: write temporal_shift='
                                 'dict(num_segments=8)')
            insert_temporal_shift(self.backbone, **options)
            self.num_segments = options['num_segments']

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, int]:
        if inputs.dim() == 5:
            inputs = self._split_views(inputs)
        if inputs.dim() != 6:
            raise ValueError(f'expected inputs (N, T, C, H, W) or '
                             f'(N, V, T, C, H, W), got shape '
                             f'{tuple(inputs.shape)}')
        batch, num_views, num_segments = inputs.shape[:3]
        if self.num_segments is not None \
                and num_segments != self.num_segments:
            raise ValueError(
                f'expected {self.num_segments} segments per clip, as the '
                f'temporal shift was built for, got {num_segments}. Set '
                'num_clips of SampleFrames to temporal_shift.num_segments.')

        features = self._single_output(
            self.backbone(inputs.flatten(0, 2)))
        if features.dim() > 2:
            features = features.flatten(2).mean(dim=2)
        # Average consensus over the segments of each view.
        features = features.reshape(batch * num_views, num_segments, -1)
        return features.mean(dim=1), num_views

    def _split_views(self, inputs: Tensor) -> Tensor:
        """Give ``(N, T, C, H, W)`` inputs a view dimension.

        TSN averages over all T frames, so every frame of every view becomes
        a segment of one view, and TSN's consensus averages all of them.
        TSM needs clips of exactly ``num_segments`` segments, so T frames
        (crop-major, then segment, as FormatShape orders them) are split into
        ``T // num_segments`` views.
        """
        num_frames = inputs.shape[1]
        if self.num_segments is None or num_frames == self.num_segments:
            return inputs.unsqueeze(1)
        if num_frames % self.num_segments:
            raise ValueError(
                f'expected a multiple of {self.num_segments} segments per '
                f'sample, as the temporal shift was built for, got '
                f'{num_frames}. Set num_clips of SampleFrames to '
                'temporal_shift.num_segments.')
        return inputs.reshape(inputs.shape[0], -1, self.num_segments,
                              *inputs.shape[2:])


@MODELS.register_module()
class Recognizer3D(BaseRecognizer):
    """A 3D backbone on the whole clip, then the classification head.

    Args:
        backbone: Config of a 3D backbone (``recognition.ResNet3d``,
            ``recognition.TorchvisionVideoBackbone``).
        cls_head: Config of the head, which averages the feature map over
            time and space.
        data_preprocessor: See :class:`BaseRecognizer`.
    """

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, int]:
        if inputs.dim() == 5:
            inputs = inputs.unsqueeze(1)
        if inputs.dim() != 6:
            raise ValueError(f'expected inputs (N, C, T, H, W) or '
                             f'(N, V, C, T, H, W), got shape '
                             f'{tuple(inputs.shape)}')
        num_views = inputs.shape[1]
        features = self._single_output(self.backbone(inputs.flatten(0, 1)))
        return features, num_views


