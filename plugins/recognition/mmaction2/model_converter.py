"""Convert the ``model`` of an mmaction2 recognition config to vidft's.

Supported families (mmaction2 1.2.0 names):

* TSN: ``Recognizer2D`` + ``ResNet`` + ``TSNHead``;
* TSM: ``Recognizer2D`` + ``ResNetTSM`` + ``TSMHead``;
* I3D: ``Recognizer3D`` + ``ResNet3d`` + ``I3DHead``;
* SlowOnly: ``Recognizer3D`` + ``ResNet3dSlowOnly`` + ``I3DHead``.

2D ResNets become ``TorchvisionBackbone`` (torchvision's ResNet has
mmaction2's layout), 3D ones ``recognition.ResNet3d``, every head
``ClsHead``. An option whose value changes the network but has no vidft
counterpart is reported through :class:`Skipped`; an option left at
mmaction2's default is not.
"""
from typing import Any, Callable, Dict, List, Optional

# Depths whose torchvision ImageNet weights exist, as weights enum names.
TORCHVISION_RESNET_WEIGHTS = {
    18: 'ResNet18_Weights.IMAGENET1K_V1',
    34: 'ResNet34_Weights.IMAGENET1K_V1',
    50: 'ResNet50_Weights.IMAGENET1K_V1',
    101: 'ResNet101_Weights.IMAGENET1K_V1',
    152: 'ResNet152_Weights.IMAGENET1K_V1',
}

TORCHVISION_URL = 'https://download.pytorch.org/models/'

# Options of mmaction2's 2D ResNet and ResNetTSM that must keep their
# default value, because vidft's backbones have no counterpart.
RESNET_2D_FIXED = dict(
    in_channels=3, num_stages=4, out_indices=(3, ), strides=(1, 2, 2, 2),
    dilations=(1, 1, 1, 1), style='pytorch', partial_bn=False,
    conv_cfg=dict(type='Conv'), act_cfg=dict(type='ReLU', inplace=True),
    norm_cfg=dict(type='BN2d', requires_grad=True), init_cfg=None,
    is_shift=True, shift_place='blockres', temporal_pool=False,
    non_local=(0, 0, 0, 0), non_local_cfg=dict())
# Options that only change memory use or start-up, not the network.
IGNORED_OPTIONS = ('with_cp', 'torchvision_pretrain', 'pretrained2d',
                   'zero_init_residual')

RESNET_3D_FIXED = dict(
    num_stages=4, out_indices=(3, ), stage_blocks=None,
    spatial_strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1), conv1_stride_s=2,
    pool1_stride_s=2, with_pool1=True, style='pytorch',
    conv_cfg=dict(type='Conv3d'), norm_cfg=dict(type='BN3d',
                                                requires_grad=True),
    act_cfg=dict(type='ReLU', inplace=True), non_local=(0, 0, 0, 0),
    non_local_cfg=dict(), lateral=False, init_cfg=None)
# Options that vidft's ResNet3d takes under the same name, with
# mmaction2's default per backbone type.
RESNET_3D_DEFAULTS = {
    'ResNet3d': dict(conv1_kernel=(3, 7, 7), conv1_stride_t=1,
                     pool1_stride_t=1, with_pool2=True,
                     inflate=(1, 1, 1, 1), inflate_style='3x1x1',
                     temporal_strides=(1, 1, 1, 1), frozen_stages=-1,
                     norm_eval=False, in_channels=3, base_channels=64),
    'ResNet3dSlowOnly': dict(conv1_kernel=(1, 7, 7), conv1_stride_t=1,
                             pool1_stride_t=1, with_pool2=False,
                             inflate=(0, 0, 1, 1), inflate_style='3x1x1',
                             temporal_strides=(1, 1, 1, 1),
                             frozen_stages=-1, norm_eval=False,
                             in_channels=3, base_channels=64),
}
# SlowFast pathway options that do nothing without lateral connections.
PATHWAY_OPTIONS = ('speed_ratio', 'channel_ratio', 'lateral_inv',
                   'lateral_norm', 'fusion_kernel', 'lateral_infl',
                   'lateral_activate')

HEAD_TYPES = ('TSNHead', 'TSMHead', 'I3DHead')
HEAD_FIXED = dict(spatial_type='avg', multi_class=False,
                  consensus=dict(type='AvgConsensus', dim=1),
                  temporal_pool=False, is_shift=True, init_cfg=None,
                  loss_cls=dict(type='CrossEntropyLoss'))
AVERAGE_CLIPS = {'prob': 'prob', 'score': 'score'}

Report = Callable[[str, Any, str], None]


class Skipped:
    """Collects options that a conversion could not carry over."""

    def __init__(self) -> None:
        self.lines: List[str] = []

    def __call__(self, key: str, value: Any, reason: str) -> None:
        self.lines.append(f'{key}={value!r}: {reason}')


def _without_type(cfg: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in cfg.items() if k != 'type'}


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, tuple) and isinstance(value, (list, tuple)):
        return tuple(_as_tuples(value)) == _as_tuples(default)
    if isinstance(default, dict) and isinstance(value, dict):
        return all(_same(value.get(k, v), v) for k, v in default.items()) \
            and set(value) <= set(default) | {'inplace'}
    return value == default


def _as_tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuples(v) for v in value)
    return value


def _check_fixed(options: Dict[str, Any], fixed: Dict[str, Any],
                 prefix: str, skipped: Report) -> None:
    for key, default in fixed.items():
        if key in options and not _same(options[key], default):
            skipped(f'{prefix}.{key}', options[key],
                    'vidft supports only the default '
                    f'{default!r}')


def convert_pretrained(pretrained: Optional[str], depth: int,
                       prefix: str, skipped: Report) -> Optional[str]:
    """Map mmaction2's ``pretrained`` of a ResNet to a vidft weight source.

    ``torchvision://resnetN`` becomes ``torchvision://ResNetN_Weights.
    IMAGENET1K_V1`` (torchvision's first ImageNet weights), a URL of
    torchvision's model store ``torchvision://<file name>``; a local file
    stays as it is.
    """
    if pretrained is None:
        return None
    if pretrained.startswith('torchvision://'):
        name = pretrained[len('torchvision://'):]
        if name == f'resnet{depth}' and depth in TORCHVISION_RESNET_WEIGHTS:
            return 'torchvision://' + TORCHVISION_RESNET_WEIGHTS[depth]
        skipped(f'{prefix}.pretrained', pretrained,
                'no matching torchvision ResNet weights; set the backbone '
                'weights by hand')
        return None
    if pretrained.startswith(TORCHVISION_URL):
        # A file of torchvision's model store, which resolve_weights finds
        # by its file name in torch.hub's checkpoint folder.
        return 'torchvision://' + pretrained[len(TORCHVISION_URL):]
    if '://' in pretrained:
        skipped(f'{prefix}.pretrained', pretrained,
                'vidft downloads nothing; download the file and set its '
                'local path')
        return None
    return pretrained


def convert_backbone_2d(backbone: Dict[str, Any], skipped: Report
                        ) -> Dict[str, Any]:
    """Return a ``TorchvisionBackbone`` config and, for TSM, the shift."""
    options = _without_type(backbone)
    depth = options.pop('depth')
    _check_fixed(options, RESNET_2D_FIXED, 'model.backbone', skipped)
    known = set(RESNET_2D_FIXED) | set(IGNORED_OPTIONS) | {
        'pretrained', 'frozen_stages', 'norm_eval', 'num_segments',
        'shift_div'}
    for key in sorted(set(options) - known):
        skipped(f'model.backbone.{key}', options[key],
                'no counterpart in TorchvisionBackbone')

    converted = dict(type='TorchvisionBackbone', name=f'resnet{depth}')
    weights = convert_pretrained(options.get('pretrained'), depth,
                                 'model.backbone', skipped)
    if weights is not None:
        converted['weights'] = weights
    for key in ('frozen_stages', 'norm_eval'):
        if key in options:
            converted[key] = options[key]
    return converted


def temporal_shift_of(backbone: Dict[str, Any], skipped: Report
                      ) -> Optional[Dict[str, int]]:
    """Return ``Recognizer2D``'s ``temporal_shift`` for a ResNetTSM."""
    if backbone['type'] != 'ResNetTSM' or not backbone.get('is_shift', True):
        return None
    if backbone.get('depth', 50) >= 101:
        # ResNetTSM shifts every other block when layer3 has 23 or more.
        skipped('model.backbone.depth', backbone['depth'],
                'ResNetTSM shifts every other block of deep ResNets, vidft '
                'every block')
    return dict(num_segments=backbone.get('num_segments', 8),
                shift_div=backbone.get('shift_div', 8))


def convert_backbone_3d(backbone: Dict[str, Any], skipped: Report
                        ) -> Dict[str, Any]:
    """Return a ``recognition.ResNet3d`` config."""
    defaults = RESNET_3D_DEFAULTS[backbone['type']]
    options = _without_type(backbone)
    depth = options.pop('depth')
    _check_fixed(options, RESNET_3D_FIXED, 'model.backbone', skipped)

    converted: Dict[str, Any] = dict(type='recognition.ResNet3d',
                                     depth=depth)
    for key, default in defaults.items():
        value = options.get(key, default)
        converted[key] = list(value) if isinstance(value, tuple) else value
    if options.get('pretrained2d', True):
        weights = convert_pretrained(options.get('pretrained'), depth,
                                     'model.backbone', skipped)
    else:
        weights = None
        if options.get('pretrained'):
            skipped('model.backbone.pretrained', options['pretrained'],
                    'a 3D mmaction2 backbone file; load the whole model '
                    'with the LoadMMAction2Checkpoint hook instead')
    if weights is not None:
        converted['pretrained'] = weights

    known = set(defaults) | set(RESNET_3D_FIXED) | set(IGNORED_OPTIONS) \
        | set(PATHWAY_OPTIONS) | {'pretrained'}
    for key in sorted(set(options) - known):
        skipped(f'model.backbone.{key}', options[key],
                'no counterpart in recognition.ResNet3d')
    return converted


def convert_head(head: Dict[str, Any], skipped: Report) -> Dict[str, Any]:
    """Return a ``ClsHead`` config for a TSN, TSM or I3D head."""
    if head['type'] not in HEAD_TYPES:
        raise ValueError(f'expected a cls_head of type {HEAD_TYPES}, got '
                         f"{head['type']!r}")
    options = _without_type(head)
    _check_fixed(options, HEAD_FIXED, 'model.cls_head', skipped)
    converted: Dict[str, Any] = dict(type='ClsHead',
                                     num_classes=options['num_classes'],
                                     in_channels=options['in_channels'])
    for key in ('dropout_ratio', 'init_std'):
        if key in options:
            converted[key] = options[key]
    if options.get('label_smooth_eps'):
        converted['label_smoothing'] = options['label_smooth_eps']
    loss = options.get('loss_cls') or {}
    if 'loss_weight' in loss:
        converted['loss_weight'] = loss['loss_weight']
    if loss.get('class_weight') is not None:
        skipped('model.cls_head.loss_cls.class_weight',
                loss['class_weight'], 'ClsHead has no class weights')

    average = options.get('average_clips', 'prob')
    if average in AVERAGE_CLIPS:
        converted['average_views'] = AVERAGE_CLIPS[average]
    else:
        skipped('model.cls_head.average_clips', average,
                "ClsHead averages 'prob' or 'score'; 'prob' is used")
    return converted


def convert_data_preprocessor(preprocessor: Optional[Dict[str, Any]],
                              skipped: Report) -> Dict[str, Any]:
    """Return a ``VideoDataPreprocessor`` config."""
    preprocessor = dict(preprocessor or {})
    converted: Dict[str, Any] = dict(
        type='VideoDataPreprocessor',
        format_shape=preprocessor.get('format_shape', 'NCHW'))
    if preprocessor.get('mean') is not None:
        converted['mean'] = list(preprocessor['mean'])
        converted['std'] = list(preprocessor['std'])
    for key in ('to_rgb', 'to_float32', 'blending'):
        default = key == 'to_float32'
        if preprocessor.get(key, default) not in (default, None):
            skipped(f'model.data_preprocessor.{key}', preprocessor[key],
                    'VideoDataPreprocessor has no counterpart')
    return converted


def convert_model(model: Dict[str, Any], skipped: Report) -> Dict[str, Any]:
    """Convert an mmaction2 ``Recognizer2D`` or ``Recognizer3D`` config.

    Raises:
        ValueError: The recognizer or backbone type is not one of the
            supported families.
    """
    recognizer = model.get('type')
    backbone = model.get('backbone') or {}
    backbone_type = backbone.get('type')
    if recognizer == 'Recognizer2D' and backbone_type in ('ResNet',
                                                          'ResNetTSM'):
        converted = dict(type='recognition.Recognizer2D',
                         backbone=convert_backbone_2d(backbone, skipped))
        shift = temporal_shift_of(backbone, skipped)
        if shift is not None:
            converted['temporal_shift'] = shift
    elif recognizer == 'Recognizer3D' and backbone_type in RESNET_3D_DEFAULTS:
        converted = dict(type='recognition.Recognizer3D',
                         backbone=convert_backbone_3d(backbone, skipped))
    else:
        raise ValueError(
            f'expected Recognizer2D with ResNet or ResNetTSM (TSN, TSM), or '
            f'Recognizer3D with ResNet3d or ResNet3dSlowOnly (I3D, '
            f'SlowOnly), got {recognizer} with {backbone_type}; convert '
            'other models by hand')

    converted['cls_head'] = convert_head(model['cls_head'], skipped)
    converted['data_preprocessor'] = convert_data_preprocessor(
        model.get('data_preprocessor'), skipped)
    if model.get('neck'):
        skipped('model.neck', model['neck'], 'vidft recognizers have no neck')
    for key in ('train_cfg', 'test_cfg'):
        if model.get(key):
            skipped(f'model.{key}', model[key],
                    'vidft recognizers take no train or test options')
    return converted
