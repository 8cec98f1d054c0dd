"""An inflatable 3D ResNet (I3D style) whose parameter names are torchvision's.

I3D (Carreira and Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017)
turns a 2D ImageNet network into a 3D one by giving some convolutions a
temporal kernel and filling it with the 2D weight repeated over time and
divided by the kernel length ("inflation"). On a clip of identical frames
the inflated network then computes what the 2D network computes on one
frame, except near the temporal borders, where zero padding drops part of
each temporal kernel.

:class:`ResNet3d` names every parameter as torchvision's 2D ResNet does
(``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0``), so
``load_pretrained(model, 'torchvision://ResNet50_Weights.IMAGENET1K_V1',
inflate=True)`` fills it without renaming (``init_weights`` does this for
``pretrained``). Which convolutions are inflated
follows mmaction2's ``inflate`` and ``inflate_style`` options.
"""
from typing import List, Optional, Sequence, Tuple, Type, Union

from mmengine.model import BaseModule
from torch import Tensor, nn

from vidft.finetune import NormEvalMixin
from vidft.models.backbones.base import (check_frozen_stages,
                                         classifier_patterns,
                                         freeze_layer_groups, norm_eval_mode)

from ..registry import BACKBONES

INFLATE_STYLES = ('3x1x1', '3x3x3')


def _conv3d(in_channels: int, out_channels: int, kernel: Tuple[int, int, int],
            stride: Tuple[int, int, int] = (1, 1, 1)) -> nn.Conv3d:
    # Zero padding of half the kernel keeps sizes, as in the 2D ResNet.
    padding = tuple(k // 2 for k in kernel)
    return nn.Conv3d(in_channels, out_channels, kernel, stride=stride,
                     padding=padding, bias=False)


class BasicBlock3d(nn.Module):
    """ResNet basic block whose ``conv1`` gets the temporal kernel.

    A basic block has no 1x1 convolution, so it takes no ``inflate_style``:
    both styles put the temporal kernel on its first 3x3 convolution.
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, spatial_stride: int,
                 temporal_stride: int, inflate: bool, temporal_kernel: int,
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        t = temporal_kernel if inflate else 1
        self.conv1 = _conv3d(in_channels, channels, (t, 3, 3),
                             (temporal_stride, spatial_stride, spatial_stride))
        self.bn1 = nn.BatchNorm3d(channels)
        self.conv2 = _conv3d(channels, channels, (1, 3, 3))
        self.bn2 = nn.BatchNorm3d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck3d(nn.Module):
    """ResNet bottleneck with the stride on ``conv2``, as in torchvision.

    When inflated, ``inflate_style='3x1x1'`` gives ``conv1`` the temporal
    kernel (I3D), ``'3x3x3'`` gives it to ``conv2``.
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, spatial_stride: int,
                 temporal_stride: int, inflate: bool, temporal_kernel: int,
                 downsample: Optional[nn.Module] = None,
                 inflate_style: str = '3x1x1') -> None:
        super().__init__()
        t1 = temporal_kernel if inflate and inflate_style == '3x1x1' else 1
        t2 = temporal_kernel if inflate and inflate_style == '3x3x3' else 1
        self.conv1 = _conv3d(in_channels, channels, (t1, 1, 1))
        self.bn1 = nn.BatchNorm3d(channels)
        self.conv2 = _conv3d(channels, channels, (t2, 3, 3),
                             (temporal_stride, spatial_stride, spatial_stride))
        self.bn2 = nn.BatchNorm3d(channels)
        self.conv3 = _conv3d(channels, channels * self.expansion, (1, 1, 1))
        self.bn3 = nn.BatchNorm3d(channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = Type[Union[BasicBlock3d, Bottleneck3d]]

# Block type and blocks per stage, as in torchvision's resnet18 ... resnet101.
ARCH_SETTINGS = {
    18: (BasicBlock3d, (2, 2, 2, 2)),
    34: (BasicBlock3d, (3, 4, 6, 3)),
    50: (Bottleneck3d, (3, 4, 6, 3)),
    101: (Bottleneck3d, (3, 4, 23, 3)),
}

StagePattern = Union[int, Sequence[int]]


@BACKBONES.register_module()
class ResNet3d(NormEvalMixin, BaseModule):
    """A 3D ResNet that inflates torchvision's 2D ResNet weights.

    The input is a clip ``(N, C, T, H, W)``, and the output is the last
    feature map ``(N, out_channels, T', H', W')``.

    Args:
        depth: 18, 34, 50 or 101.
        pretrained: 2D (or 3D) ResNet weights: a local file or
            ``'torchvision://ResNet50_Weights.IMAGENET1K_V1'``. They are
            loaded with ``inflate=True`` when :meth:`init_weights` runs. The
            2D classifier ``fc`` is left out and reported as dropped.
        in_channels: Input channels.
        conv1_kernel: ``(t, h, w)`` kernel of the stem convolution.
        conv1_stride_t: Temporal stride of the stem convolution.
        pool1_stride_t: Temporal stride of the stem max pooling.
        with_pool2: Halve the temporal size after ``layer1`` by max pooling.
        inflate: Which blocks get a temporal kernel, per stage: 1 or 0 for
            all or none of the stage's blocks, or one flag per block
            (mmaction2's I3D uses ``((1, 1, 1), (1, 0, 1, 0),
            (1, 0, 1, 0, 1, 0), (0, 1, 0))``).
        inflate_style: ``'3x1x1'`` inflates the first 1x1 convolution of a
            bottleneck, ``'3x3x3'`` its 3x3 convolution. Basic blocks (depth
            18 and 34) always inflate their first 3x3 convolution.
        temporal_kernels: Temporal kernel size of inflated convolutions, one
            for all stages or one per stage. 1 makes the network frame-wise.
        temporal_strides: Temporal stride of the first block of each stage.
        base_channels: Output channels of the stem. Stage ``i`` (from 0)
            has ``base_channels * 2**i`` bottleneck channels. 64 gives the
            widths of torchvision's and mmaction2's ResNets.
        frozen_stages: Freeze layer groups ``0..frozen_stages`` (0 is the
            stem, then ``layer1`` ...). -1 freezes nothing. Frozen stages
            keep their BatchNorm statistics.
        norm_eval: Keep every BatchNorm layer in eval mode in training.
    """

    def __init__(self, depth: int = 50, pretrained: Optional[str] = None,
                 in_channels: int = 3,
                 conv1_kernel: Sequence[int] = (3, 7, 7),
                 conv1_stride_t: int = 1, pool1_stride_t: int = 1,
                 with_pool2: bool = True,
                 inflate: Sequence[StagePattern] = (1, 1, 1, 1),
                 inflate_style: str = '3x1x1',
                 temporal_kernels: Union[int, Sequence[int]] = 3,
                 temporal_strides: Sequence[int] = (1, 1, 1, 1),
                 base_channels: int = 64,
                 frozen_stages: int = -1, norm_eval: bool = False) -> None:
        super().__init__(init_cfg=None)
        if depth not in ARCH_SETTINGS:
            raise ValueError(f'expected depth in {sorted(ARCH_SETTINGS)}, '
                             f'got {depth!r}')
        if inflate_style not in INFLATE_STYLES:
            raise ValueError(f'expected inflate_style in {INFLATE_STYLES}, '
                             f'got {inflate_style!r}')
        if len(tuple(conv1_kernel)) != 3:
            raise ValueError(f'expected conv1_kernel as (t, h, w), got '
                             f'{conv1_kernel!r}')
        if not isinstance(base_channels, int) or base_channels < 1:
            raise ValueError(f'expected base_channels >= 1, got '
                             f'{base_channels!r}')
        check_frozen_stages(frozen_stages)
        block, stage_blocks = ARCH_SETTINGS[depth]
        inflate_flags = _per_block_flags(inflate, stage_blocks)
        kernels = _per_stage(temporal_kernels, 'temporal_kernels')
        strides = _per_stage(temporal_strides, 'temporal_strides')

        self.depth = depth
        self.pretrained = pretrained
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval_mode(norm_eval, frozen_stages)
        self.load_report = None

        # Stem: torchvision's conv1 / bn1 / relu / maxpool in 3D.
        t, h, w = conv1_kernel
        self.conv1 = nn.Conv3d(in_channels, base_channels, (t, h, w),
                               stride=(conv1_stride_t, 2, 2),
                               padding=(t // 2, h // 2, w // 2), bias=False)
        self.bn1 = nn.BatchNorm3d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(pool1_stride_t, 2, 2),
                                    padding=(0, 1, 1))
        self.pool2 = (nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
                      if with_pool2 else None)

        in_channels = base_channels
        for index, num_blocks in enumerate(stage_blocks):
            channels = base_channels * 2 ** index
            layer = self._make_layer(
                block, in_channels, channels, num_blocks,
                spatial_stride=1 if index == 0 else 2,
                temporal_stride=strides[index],
                inflate=inflate_flags[index], temporal_kernel=kernels[index],
                inflate_style=inflate_style)
            self.add_module(f'layer{index + 1}', layer)
            in_channels = channels * block.expansion
        self.out_channels = in_channels

        self._init_random()
        freeze_layer_groups(self, self.layer_groups(), frozen_stages)

    @staticmethod
    def _make_layer(block: Block, in_channels: int, channels: int,
                    num_blocks: int, spatial_stride: int, temporal_stride: int,
                    inflate: Sequence[int], temporal_kernel: int,
                    inflate_style: str) -> nn.Sequential:
        downsample = None
        out_channels = channels * block.expansion
        if spatial_stride != 1 or temporal_stride != 1 \
                or in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1,
                          stride=(temporal_stride, spatial_stride,
                                  spatial_stride), bias=False),
                nn.BatchNorm3d(out_channels))
        style = {} if block is BasicBlock3d else dict(
            inflate_style=inflate_style)
        blocks = []
        for index in range(num_blocks):
            first = index == 0
            blocks.append(block(
                in_channels if first else out_channels, channels,
                spatial_stride=spatial_stride if first else 1,
                temporal_stride=temporal_stride if first else 1,
                inflate=bool(inflate[index]),
                temporal_kernel=temporal_kernel,
                downsample=downsample if first else None, **style))
        return nn.Sequential(*blocks)

    def _init_random(self) -> None:
        # torchvision's ResNet initialisation, used where no weights load.
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out',
                                        nonlinearity='relu')
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            raise ValueError(f'expected a clip (N, C, T, H, W), got shape '
                             f'{tuple(x.shape)}')
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        if self.pool2 is not None:
            x = self.pool2(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def layer_groups(self) -> List[List[str]]:
        """Return parameter names of the stem and of ``layer1`` ...
        ``layer4``."""
        prefixes = ['conv1', 'bn1'], ['layer1'], ['layer2'], ['layer3'], \
            ['layer4']
        return [[name for name, _ in self.named_parameters()
                 if name.split('.')[0] in group] for group in prefixes]

    def init_weights(self) -> None:
        """Load ``pretrained`` with inflation, once."""
        if self.is_init:
            return
        if self.pretrained is not None:
            from vidft.finetune import load_pretrained
            # 'backbone.' lets a whole vidft recognizer's checkpoint start
            # this backbone.
            self.load_report = load_pretrained(
                self, self.pretrained, inflate=True,
                strip_prefix=('module.', 'backbone.'),
                drop=classifier_patterns(['fc']))
        self._is_init = True


def _per_stage(value: Union[int, Sequence[int]], name: str) -> Tuple[int, ...]:
    values = (value,) * 4 if isinstance(value, int) else tuple(value)
    if len(values) != 4 or any(not isinstance(v, int) or v < 1
                               for v in values):
        raise ValueError(f'expected {name} as a positive int or 4 of them '
                         f'(one per stage), got {value!r}')
    return values


def _per_block_flags(inflate: Sequence[StagePattern],
                     stage_blocks: Sequence[int]) -> List[Tuple[int, ...]]:
    inflate = tuple(inflate)
    if len(inflate) != len(stage_blocks):
        raise ValueError(f'expected inflate with {len(stage_blocks)} entries '
                         f'(one per stage), got {inflate!r}')
    flags = []
    for stage, (pattern, num_blocks) in enumerate(zip(inflate, stage_blocks)):
        if isinstance(pattern, int):
            flags.append((pattern,) * num_blocks)
            continue
        pattern = tuple(pattern)
        if len(pattern) != num_blocks:
            raise ValueError(
                f'expected {num_blocks} inflate flags for stage {stage + 1}, '
                f'one per block, got {pattern!r}')
        flags.append(pattern)
    return flags
