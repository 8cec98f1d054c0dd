"""Any timm image model as a vidft backbone."""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from vidft.registry import BACKBONES

from .base import ImageBackbone, KeyMap
from .feature_hooks import FeatureNames

logger = logging.getLogger(__name__)


@BACKBONES.register_module()
class TimmBackbone(ImageBackbone):
    """A timm model without its classifier.

    The model is built with ``timm.create_model(model_name,
    pretrained=False, num_classes=0)``. Weights come from ``pretrained``
    through :func:`vidft.finetune.load_pretrained` when :meth:`init_weights`
    runs, never from the internet.

    By default the output is timm's last feature map (``forward_features``,
    as NCHW). Layers that timm applies only after global pooling (the head
    norm of ConvNeXt, the ``conv_head`` of MobileNetV3) do not run then, so
    their parameters are frozen. That keeps them out of the optimizer and
    out of DistributedDataParallel's unused-parameter check. Models without
    a spatial map (vision transformers) always return pooled features.

    Args:
        model_name: A timm model name, as in ``timm.list_models()``.
        pretrained: A local file or ``'timm://<model name>[.<tag>]'``
            (resolved in the local cache by
            :func:`vidft.finetune.resolve_weights`). None keeps timm's
            random initialisation.
        key_map: Converts checkpoint keys to timm's names: a name from
            :mod:`vidft.finetune.converters` (``'efficientnet_lite'``) or a
            callable from state dict to state dict. Unused without
            ``pretrained``, so a config can train from scratch by setting
            ``pretrained=None`` alone.
        out_indices: Return a tuple of feature maps, indices into timm's
            ``feature_info`` (the last module at each stride).
        feature_names: Return a dict of the outputs of these modules of the
            timm model (a list, or a dict from module name to output key).
        drop_rate: Dropout rate that timm's head applies to the pooled
            features. Only valid with ``global_pool=True``. None keeps
            timm's default.
        drop_path_rate: Stochastic-depth rate. None keeps timm's default.
        global_pool: Return timm's pooled pre-logits features ``(N, C)``
            (``forward_head(..., pre_logits=True)``) instead of the map.
        frozen_stages: Freeze layer groups ``0..frozen_stages`` (group 0 is
            the stem, see :meth:`layer_groups`). -1 freezes nothing.
        norm_eval: Keep every BatchNorm layer in eval mode in training, so
            its statistics stay those of the checkpoint.
        model_kwargs: More keyword arguments for ``timm.create_model``
            (``bn_eps``, ``in_chans``, ...).
    """

    def __init__(self, model_name: str, pretrained: Optional[str] = None,
                 key_map: Optional[KeyMap] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 feature_names: Optional[FeatureNames] = None,
                 drop_rate: Optional[float] = None,
                 drop_path_rate: Optional[float] = None,
                 global_pool: bool = False,
                 frozen_stages: int = -1, norm_eval: bool = False,
                 model_kwargs: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(pretrained=pretrained, key_map=key_map,
                         out_indices=out_indices, feature_names=feature_names,
                         frozen_stages=frozen_stages, norm_eval=norm_eval)
        if drop_rate is not None and not global_pool:
            raise ValueError(
                'drop_rate is the dropout of timm\'s pooled head, which only '
                'runs with global_pool=True. Set global_pool=True, or use '
                'the dropout_ratio of the classification head instead.')
        kwargs = _create_kwargs(model_name, model_kwargs)
        # timm drops keyword arguments whose value is None.
        kwargs.update(drop_rate=drop_rate, drop_path_rate=drop_path_rate)

        import timm
        self.model_name = model_name
        self.model = timm.create_model(model_name, pretrained=False, **kwargs)
        self._output_fmt = str(getattr(self.model, 'output_fmt', 'NCHW'))

        self.global_pool = global_pool
        if not global_pool:
            self._check_feature_map(kwargs)
        if self.global_pool:
            self.out_channels = int(
                getattr(self.model, 'head_hidden_size', None)
                or self.model.num_features)
        else:
            self.out_channels = int(self.model.num_features)
        self._finish_setup()

    def _check_feature_map(self, kwargs: Dict[str, Any]) -> None:
        """Switch token models to pooled output and freeze the parameters
        that the feature map does not use."""
        try:
            map_dims, unused = _probe_feature_map(self.model_name, kwargs)
        except (AssertionError, NotImplementedError, RuntimeError, TypeError,
                ValueError) as error:
            # timm checks input sizes with AssertionError.
            logger.warning(
                'Could not run %s on the meta device (%s: %s), so parameters '
                'that only run after global pooling are not detected and '
                'stay trainable', self.model_name, type(error).__name__,
                error)
            return

        if map_dims != 4:
            logger.info('%s has no spatial feature map, so TimmBackbone '
                        'returns its pooled features', self.model_name)
            self.global_pool = True
            return
        if unused:
            parameters = dict(self.model.named_parameters())
            for name in unused:
                parameters[name].requires_grad_(False)
            logger.info('Froze %d parameters of %s that only run after '
                        'global pooling (%s). Set global_pool=True to train '
                        'them.', len(unused), self.model_name,
                        ', '.join(unused[:4]))

    def forward_features(self, x: Tensor) -> Tensor:
        features = self.model.forward_features(x)
        if self.global_pool or features.dim() != 4:
            return self.model.forward_head(features, pre_logits=True)
        if self._output_fmt == 'NHWC':
            features = features.permute(0, 3, 1, 2)
        return features

    def _model_layer_groups(self) -> List[List[str]]:
        from timm.models import group_parameters

        matcher = getattr(self.model, 'group_matcher', None)
        if matcher is None:
            groups = [[f'{child}.{name}'
                       for name, _ in module.named_parameters()]
                      for child, module in self.model.named_children()]
            return [group for group in groups if group]
        grouped = group_parameters(self.model, matcher(coarse=True))
        return [list(names) for _, names in sorted(grouped.items())]

    def _classifier_names(self) -> List[str]:
        # timm's pretrained config names the classifier ('fc', 'head.fc').
        classifier = self.model.pretrained_cfg.get('classifier')
        if isinstance(classifier, str):
            return [classifier]
        return list(classifier or [])

    def _model_feature_info(self) -> Optional[List[dict]]:
        info = getattr(self.model, 'feature_info', None)
        if not info:
            return None
        return [dict(module=entry['module'], num_chs=entry['num_chs'],
                     reduction=entry['reduction']) for entry in info]


def _create_kwargs(model_name: str,
                   model_kwargs: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Check the model name and the extra arguments for timm.create_model."""
    import timm

    kwargs = dict(model_kwargs or {})
    for reserved in ('pretrained', 'num_classes', 'features_only'):
        if reserved in kwargs:
            raise ValueError(
                f"model_kwargs may not set '{reserved}', because TimmBackbone "
                'builds the model without a classifier and loads weights '
                'through its pretrained argument')
    if not timm.is_model(model_name):
        from difflib import get_close_matches
        close = get_close_matches(model_name, timm.list_models(), n=3)
        hint = (f" Did you mean {' or '.join(map(repr, close))}?"
                if close else '')
        raise ValueError(f'unknown timm model {model_name!r}.{hint}')
    kwargs['num_classes'] = 0
    return kwargs


def _probe_feature_map(model_name: str,
                       kwargs: Dict[str, Any]) -> Tuple[int, List[str]]:
    """Return the rank of ``forward_features`` output and the parameters it
    does not use.

    A copy of the model on the meta device runs one forward and backward
    pass, which costs no arithmetic and no memory for weights.
    """
    import timm

    with torch.device('meta'):
        model = timm.create_model(model_name, pretrained=False, **kwargs)
    size = tuple(model.pretrained_cfg.get('input_size') or (3, 224, 224))
    img_size = kwargs.get('img_size', size[1:])
    if isinstance(img_size, int):
        img_size = (img_size, img_size)
    in_chans = kwargs.get('in_chans', size[0])
    features = model.forward_features(
        torch.empty((1, in_chans) + tuple(img_size), device='meta'))
    if features.dim() != 4:
        return features.dim(), []
    features.sum().backward()
    unused = [name for name, parameter in model.named_parameters()
              if parameter.requires_grad and parameter.grad is None]
    return 4, unused
