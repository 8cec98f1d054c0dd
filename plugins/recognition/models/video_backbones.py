"""torchvision's video classification models as backbones."""
from typing import Any, Dict, List, Optional

from mmengine.model import BaseModule
from torch import Tensor, nn

from vidft.finetune import NormEvalMixin
from vidft.models.backbones.base import (WHOLE_MODEL_PREFIX,
                                         check_frozen_stages,
                                         classifier_patterns,
                                         freeze_layer_groups, norm_eval_mode)

from ..registry import BACKBONES

# Per model: the classifier children, replaced by nn.Identity, the children
# that form the feature path in order, and the output kind. 'map' outputs
# are (N, C, T, H, W) and 'pooled' outputs are (N, C).
VIDEO_MODELS: Dict[str, Dict[str, Any]] = {
    'r3d_18': dict(classifier=('fc',), steps=(
        'stem', 'layer1', 'layer2', 'layer3', 'layer4'), output='map'),
    'mc3_18': dict(classifier=('fc',), steps=(
        'stem', 'layer1', 'layer2', 'layer3', 'layer4'), output='map'),
    'r2plus1d_18': dict(classifier=('fc',), steps=(
        'stem', 'layer1', 'layer2', 'layer3', 'layer4'), output='map'),
    's3d': dict(classifier=('classifier',), steps=('features',),
                output='map'),
    # Swin3D's features are channels-last. Its norm runs on them, then the
    # result is permuted to (N, C, T, H, W).
    'swin3d_t': dict(classifier=('head',), steps=('patch_embed', 'pos_drop',
                                                  'features', 'norm'),
                     output='channels_last'),
    'swin3d_s': dict(classifier=('head',), steps=('patch_embed', 'pos_drop',
                                                  'features', 'norm'),
                     output='channels_last'),
    'swin3d_b': dict(classifier=('head',), steps=('patch_embed', 'pos_drop',
                                                  'features', 'norm'),
                     output='channels_last'),
    # MViT returns the normalised class token: the model's own forward runs
    # with the head replaced.
    'mvit_v1_b': dict(classifier=('head',), steps=(), output='pooled'),
    'mvit_v2_s': dict(classifier=('head',), steps=(), output='pooled'),
}


@BACKBONES.register_module()
class TorchvisionVideoBackbone(NormEvalMixin, BaseModule):
    """A torchvision video model (``r3d_18``, ``mc3_18``, ``r2plus1d_18``,
    ``s3d``, ``swin3d_t/s/b``, ``mvit_v1_b``, ``mvit_v2_s``) without its
    classifier.

    The input is a clip ``(N, C, T, H, W)``. The output is the last feature
    map ``(N, C, T', H', W')``, except for MViT, which returns its class
    token ``(N, C)``. MViT only accepts the clip size it was built for
    (16x224x224 for both MViT models).

    Args:
        name: The torchvision model name.
        weights: A local file or ``'torchvision://<weights enum>'``
            (``'torchvision://R2Plus1D_18_Weights.KINETICS400_V1'``), loaded
            by :func:`vidft.finetune.load_pretrained` when
            :meth:`init_weights` runs. The Kinetics classifier is left out
            and reported as dropped.
        frozen_stages: Freeze layer groups ``0..frozen_stages``, see
            :meth:`layer_groups`. -1 freezes nothing.
        norm_eval: Keep every BatchNorm layer in eval mode in training.
        model_kwargs: More keyword arguments for the torchvision builder.
    """

    def __init__(self, name: str, weights: Optional[str] = None,
                 frozen_stages: int = -1, norm_eval: bool = False,
                 model_kwargs: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(init_cfg=None)
        import torchvision

        if name not in VIDEO_MODELS:
            raise ValueError(f'expected a torchvision video model in '
                             f'{sorted(VIDEO_MODELS)}, got {name!r}')
        kwargs = dict(model_kwargs or {})
        if 'weights' in kwargs:
            raise ValueError("model_kwargs may not set 'weights'. Pass the "
                             'weight source as the weights argument.')
        check_frozen_stages(frozen_stages)

        self.name = name
        self.pretrained = weights
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval_mode(norm_eval, frozen_stages)
        self.load_report = None
        self._spec = VIDEO_MODELS[name]

        self.model = torchvision.models.get_model(name, weights=None, **kwargs)
        self.out_channels = _classifier_in_features(
            [getattr(self.model, child) for child in self._spec['classifier']])
        for child in self._spec['classifier']:
            setattr(self.model, child, nn.Identity())
        freeze_layer_groups(self, self.layer_groups(), frozen_stages)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            raise ValueError(f'expected a clip (N, C, T, H, W), got shape '
                             f'{tuple(x.shape)}')
        if self._spec['output'] == 'pooled':
            return self.model(x)
        for step in self._spec['steps']:
            x = getattr(self.model, step)(x)
        if self._spec['output'] == 'channels_last':
            x = x.permute(0, 4, 1, 2, 3)
        return x

    def layer_groups(self) -> List[List[str]]:
        """Return parameter names grouped from the input to the output.

        Groups are the stem and each stage (ResNet-style models), each child
        of ``features`` (S3D, Swin3D), or the patch embedding, each block and
        the final norm (MViT). Names start with ``'model.'``.
        """
        groups: List[List[str]] = []
        for prefix in self._group_prefixes():
            names = [f'model.{name}' for name, _ in
                     self.model.named_parameters()
                     if name == prefix or name.startswith(prefix + '.')]
            if names:
                groups.append(names)
        grouped = {name for group in groups for name in group}
        rest = [f'model.{name}' for name, _ in self.model.named_parameters()
                if f'model.{name}' not in grouped]
        if rest:
            # Parameters outside the listed prefixes (MViT's position
            # embedding) belong with the input side.
            groups[0] = rest + groups[0]
        return groups

    def _group_prefixes(self) -> List[str]:
        model = self.model
        if self.name.startswith('mvit'):
            return (['conv_proj', 'pos_encoding'] +
                    [f'blocks.{i}' for i in range(len(model.blocks))] +
                    ['norm'])
        prefixes: List[str] = []
        for step in self._spec['steps']:
            module = getattr(model, step)
            if step == 'features':
                prefixes += [f'features.{child}' for child, _ in
                             module.named_children()]
            else:
                prefixes.append(step)
        return prefixes

    def init_weights(self) -> None:
        """Load ``weights`` into the torchvision model, once."""
        if self.is_init:
            return
        if self.pretrained is not None:
            from vidft.finetune import load_pretrained
            # WHOLE_MODEL_PREFIX lets a whole vidft recognizer's checkpoint
            # start this backbone.
            self.load_report = load_pretrained(
                self.model, self.pretrained,
                strip_prefix=('module.', WHOLE_MODEL_PREFIX),
                drop=classifier_patterns(self._spec['classifier']))
        self._is_init = True


def _classifier_in_features(classifier: List[nn.Module]) -> int:
    for module in classifier:
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                return layer.in_features
            if isinstance(layer, nn.Conv3d):
                return layer.in_channels
    raise RuntimeError('found no Linear or Conv3d layer in the classifier')
