"""torchvision image classification models as vidft backbones.

torchvision models have no common "features" method, so the wrapper runs the
model's own top-level children in order (expanding ``features``-style
containers into their children) and stops before global pooling and the
classifier. The children keep their names, so torchvision checkpoints load
without renaming. The classifier is replaced by ``nn.Identity``, and its
checkpoint keys are left out and reported as dropped when weights load.
"""
from typing import Any, Dict, List, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from vidft.registry import BACKBONES

from .base import ImageBackbone, KeyMap
from .feature_hooks import FeatureNames, probe_feature_info


# Top-level children that contain the classifier, by model class. They are
# replaced by nn.Identity, and feature extraction stops before the first of
# them or before a global pool.
CLASSIFIERS: Dict[str, Sequence[str]] = {
    'AlexNet': ('classifier',),
    'ConvNeXt': ('classifier',),
    'DenseNet': ('classifier',),
    'EfficientNet': ('classifier',),
    'GoogLeNet': ('fc',),
    'Inception3': ('fc',),
    'MNASNet': ('classifier',),
    'MaxVit': ('classifier',),
    'MobileNetV2': ('classifier',),
    'MobileNetV3': ('classifier',),
    'RegNet': ('fc',),
    'ResNet': ('fc',),
    'ShuffleNetV2': ('fc',),
    'SqueezeNet': ('classifier',),
    'SwinTransformer': ('head',),
    'VGG': ('classifier',),
    'VisionTransformer': ('heads',),
}

# Children after the feature path in the models above.
END_OF_FEATURES = ('avgpool', 'dropout', 'flatten')

# Containers whose children are separate steps (and layer groups).
EXPANDED_CONTAINERS = ('features', 'layers', 'trunk_output', 'blocks')

# Models with no spatial feature map: the output is the pooled class token.
POOLED_MODELS = ('VisionTransformer',)

# Models whose feature steps are channels-last (N, H, W, C).
CHANNELS_LAST_MODELS = ('SwinTransformer',)

# GoogLeNet and Inception v3 weights from torchvision were ported from
# TensorFlow and expect torchvision's input transform to be on.
TRANSFORM_INPUT_MODELS = ('GoogLeNet', 'Inception3')

# Input size of the one forward pass that measures feature strides. It is
# the ImageNet size because MaxViT accepts no other.
PROBE_INPUT_SIZE = 224

NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def _owns_parameters(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


@BACKBONES.register_module()
class TorchvisionBackbone(ImageBackbone):
    """A torchvision image classification model without its classifier.

    Supported model families (every name in
    ``torchvision.models.list_models(module=torchvision.models)``): AlexNet,
    ConvNeXt, DenseNet, EfficientNet (v1 and v2), GoogLeNet, Inception v3,
    MaxViT, MNASNet, MobileNet v2/v3, RegNet, ResNet (with ResNeXt and wide
    ResNet), ShuffleNet v2, SqueezeNet, Swin (v1 and v2), VGG and ViT.

    Args:
        name: A torchvision model name (``'resnet50'``).
        weights: A local file or ``'torchvision://<weights enum>'``
            (``'torchvision://ResNet50_Weights.IMAGENET1K_V1'``), resolved
            in the local cache by :func:`vidft.finetune.resolve_weights`.
            None keeps torchvision's random initialisation.
        key_map: Converts checkpoint keys to torchvision's names (a name
            from :mod:`vidft.finetune.converters` or a callable). Unused
            without ``weights``.
        out_indices: Return a tuple of feature maps: indices into
            :attr:`feature_info`, the last step at each stride.
        feature_names: Return a dict of the outputs of these modules of the
            torchvision model (``['features.3', 'features.8']`` for VGG).
        frozen_stages: Freeze layer groups ``0..frozen_stages``, see
            :meth:`layer_groups`. -1 freezes nothing.
        norm_eval: Keep every normalisation layer in eval mode in training.
        model_kwargs: More keyword arguments for
            ``torchvision.models.get_model``.
    """

    def __init__(self, name: str, weights: Optional[str] = None,
                 key_map: Optional[KeyMap] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 feature_names: Optional[FeatureNames] = None,
                 frozen_stages: int = -1, norm_eval: bool = False,
                 model_kwargs: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(pretrained=weights, key_map=key_map,
                         out_indices=out_indices, feature_names=feature_names,
                         frozen_stages=frozen_stages, norm_eval=norm_eval)
        self.name = name
        self.model = self._build_model(name, weights, dict(model_kwargs or {}))
        self._family = type(self.model).__name__
        if self._family not in CLASSIFIERS:
            raise ValueError(
                f'TorchvisionBackbone does not know where the features of '
                f'{self._family} ({name}) end. Supported model classes: '
                f'{sorted(CLASSIFIERS)}. Use TimmBackbone for other '
                'models.')

        classifier = [getattr(self.model, child)
                      for child in CLASSIFIERS[self._family]]
        self.out_channels = self._measure_out_channels(classifier)
        for child in CLASSIFIERS[self._family]:
            setattr(self.model, child, nn.Identity())
        self._steps = self._feature_steps()
        self._modules_by_name = dict(self.model.named_modules())
        self._finish_setup()

    # Building -----------------------------------------------------------

    @staticmethod
    def _build_model(name: str, weights: Optional[str],
                     kwargs: Dict[str, Any]) -> nn.Module:
        import torchvision

        if 'weights' in kwargs:
            raise ValueError("model_kwargs may not set 'weights'. Pass the "
                             'weight source as the weights argument.')
        names = torchvision.models.list_models(module=torchvision.models)
        if name not in names:
            from difflib import get_close_matches
            close = get_close_matches(name, names, n=3)
            hint = (f" Did you mean {' or '.join(map(repr, close))}?"
                    if close else '')
            raise ValueError(f'unknown torchvision image model {name!r}.'
                             f'{hint} Video models are in the recognition '
                             'plugin (recognition.TorchvisionVideoBackbone).')

        if name in ('googlenet', 'inception_v3'):
            if kwargs.get('aux_logits'):
                raise ValueError('expected aux_logits=False for a backbone, '
                                 'got True, but the auxiliary classifiers '
                                 'are not part of the features')
            kwargs['aux_logits'] = False
            kwargs.setdefault('init_weights', True)
            kwargs.setdefault('transform_input', weights is not None)
        return torchvision.models.get_model(name, weights=None, **kwargs)

    def _measure_out_channels(self, classifier: List[nn.Module]) -> int:
        if self._family in ('VGG', 'AlexNet'):
            # Their classifier input is a flattened 7x7 or 6x6 map, so take
            # the channels of the last convolution instead.
            convs = [m for m in self.model.features.modules()
                     if isinstance(m, nn.Conv2d)]
            return convs[-1].out_channels
        for module in classifier:
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    return layer.in_features
                if isinstance(layer, nn.Conv2d):
                    return layer.in_channels
        raise RuntimeError(f'found no Linear or Conv2d layer in the '
                           f'classifier of {self._family}')

    def _feature_steps(self) -> List[str]:
        """Names of the modules the feature path runs, in order."""
        steps = []
        stop = set(CLASSIFIERS[self._family]) | set(END_OF_FEATURES)
        for child_name, child in self.model.named_children():
            if child_name in stop:
                break
            if child is None:
                continue
            if child_name in EXPANDED_CONTAINERS and isinstance(
                    child, (nn.Sequential, nn.ModuleList)):
                steps += [f'{child_name}.{sub}' for sub, _ in
                          child.named_children()]
            else:
                steps.append(child_name)
        return steps

    # Forward ------------------------------------------------------------

    def forward_features(self, x: Tensor) -> Tensor:
        if self._family in POOLED_MODELS:
            return self.model(x)
        return self._run_steps(x)[-1]

    def _run_steps(self, x: Tensor) -> List[Tensor]:
        if self._family in TRANSFORM_INPUT_MODELS:
            x = self.model._transform_input(x)
        outputs = []
        for name in self._steps:
            x = self._modules_by_name[name](x)
            outputs.append(x)
        if self._family == 'DenseNet':
            # torchvision applies this ReLU functionally after the features.
            outputs[-1] = F.relu(outputs[-1])
        return outputs

    def _run_for_features(self, x: Tensor) -> object:
        if self._family in POOLED_MODELS:
            return self.model(x)
        return self._run_steps(x)

    # Groups and feature levels -----------------------------------------

    def _model_layer_groups(self) -> List[List[str]]:
        if self._family == 'VisionTransformer':
            groups = [['conv_proj', 'class_token', 'encoder.pos_embedding']]
            groups += [[f'encoder.layers.{name}'] for name, _ in
                       self.model.encoder.layers.named_children()]
            groups.append(['encoder.ln'])
        else:
            groups = self._group_steps()
        return [self._parameters_under(prefixes) for prefixes in groups]

    def _group_steps(self) -> List[List[str]]:
        # A step with parameters starts a group, except a norm layer right
        # after a convolution (conv1 + bn1). Steps without parameters
        # (activations, pooling) join the group before them.
        groups: List[List[str]] = []
        previous: Optional[nn.Module] = None
        for name in self._steps:
            module = self._modules_by_name[name]
            joins = (not _owns_parameters(module) or
                     (isinstance(module, NORM_TYPES) and
                      isinstance(previous, nn.Conv2d)))
            if groups and joins:
                groups[-1].append(name)
            else:
                groups.append([name])
            previous = module
        return groups

    def _parameters_under(self, prefixes: Sequence[str]) -> List[str]:
        return [name for name, _ in self.model.named_parameters()
                if any(name == p or name.startswith(p + '.')
                       for p in prefixes)]

    def _classifier_names(self) -> List[str]:
        return list(CLASSIFIERS[self._family])

    def _model_feature_info(self) -> Optional[List[dict]]:
        if self._family in POOLED_MODELS + CHANNELS_LAST_MODELS:
            return None
        was_training = self.model.training
        self.model.eval()
        try:
            return probe_feature_info(self._steps, self._run_steps,
                                      PROBE_INPUT_SIZE, in_channels=3)
        finally:
            self.model.train(was_training)

