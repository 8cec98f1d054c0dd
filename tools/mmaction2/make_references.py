"""Write the mmaction2 parity fixtures: small checkpoints, inputs and logits.

This script imports mmaction2, so it runs only in the separate reference
environment described in ``docs/mmaction2.md`` (mmaction2 1.2.0 and
mmcv-lite 2.2.0 installed with ``pip install --no-deps --target``, on top of
vidft's venv for torch and mmengine)::

    PYTHONPATH=/tmp/mma_pkgs /work/venv/bin/python \\
        tools/mmaction2/make_references.py \\
        --out tests/plugins/recognition/mmaction2/fixtures

For each family (TSN, TSM, I3D, SlowOnly) it builds mmaction2's own
recognizer with a ResNet-50 block structure and reduced channel widths, and
gives every parameter and every BatchNorm statistic random values. It saves
the model as an mmaction2 checkpoint (``{'state_dict': ..., 'meta': ...}``),
a fixed input and mmaction2's eval-mode logits for that input. vidft's tests
compare their own logits against these files without mmaction2.

The known breaks of mmaction2 1.2.0 in this environment are worked around at
run time, without editing the installed copy:

* mmaction2 asserts ``mmcv < 2.2.0`` but the only mmcv-lite wheel is 2.2.0,
  so ``mmcv.__version__`` is reported as 2.1.0 while mmaction2 imports;
* the wheel lacks ``mmaction.models.localizers.drn``, so an empty stand-in
  module with a ``DRN`` placeholder is put into ``sys.modules``;
* the ``importlib_metadata`` backport that mmaction2 imports is replaced by
  the standard library's ``importlib.metadata`` when it is not installed;
* ``mmaction.models.multimodal`` imports helpers that transformers 5
  removed (``apply_chunking_to_forward``,
  ``find_pruneable_heads_and_indices``), so an empty stand-in module takes
  its place; none of the families here uses it.
"""
import argparse
import sys
import types
from pathlib import Path
from typing import Callable, Dict, Tuple

import numpy as np
import torch
from torch import nn

SEED = 20261204
NUM_CLASSES = 7
BATCH = 2

# Channel divisor of the residual stages of the 2D ResNet-50s, whose widths
# mmaction2 fixes at 64, 128, 256 and 512; narrowing keeps every block and
# key. vidft builds the same network with timm's ResNet-50 and
# channels=(4, 8, 16, 32).
WIDTH_DIVISOR_2D = 16
# Stem width of the 3D ResNet-50s (mmaction2's base_channels, 64 normally).
BASE_CHANNELS_3D = 4


def patch_environment() -> None:
    """Apply the run-time workarounds listed in the module docstring."""
    import mmcv
    mmcv.__version__ = '2.1.0'

    # mmaction2 reads package versions through the importlib_metadata
    # backport, whose stdlib counterpart offers the same two names.
    try:
        import importlib_metadata  # noqa: F401
    except ImportError:
        import importlib.metadata
        sys.modules['importlib_metadata'] = importlib.metadata

    drn = types.ModuleType('mmaction.models.localizers.drn')
    drn.__path__ = []
    drn_module = types.ModuleType('mmaction.models.localizers.drn.drn')

    class DRN:  # noqa: D401 - placeholder for the missing localizer
        """Placeholder for the DRN localizer missing from the wheel."""

    drn_module.DRN = DRN
    drn.drn = drn_module
    sys.modules['mmaction.models.localizers.drn'] = drn
    sys.modules['mmaction.models.localizers.drn.drn'] = drn_module

    # The multimodal models need transformers 4 (transformers 5 removed
    # helpers that they import) and no family here uses them.
    sys.modules['mmaction.models.multimodal'] = types.ModuleType(
        'mmaction.models.multimodal')


def narrow_channels(model: nn.Module, divisor: int) -> None:
    """Divide the channels of the residual stages and the classifier input.

    Modules are replaced in place, so mmaction2's forward code and the key
    names stay the same. The stem keeps its 64 output channels because
    torchvision's and timm's ResNets fix them, so the two layers that read
    the stem output keep 64 input channels.
    """
    stem = 'backbone.conv1.'
    reads_stem = ('backbone.layer1.0.conv1.', 'backbone.layer1.0.downsample.')
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            full_name = f'{parent_name}.{name}'
            keep_out = full_name.startswith(stem)
            keep_in = keep_out or full_name.startswith(reads_stem)
            if isinstance(child, nn.Conv2d):
                in_channels = child.in_channels if keep_in \
                    else child.in_channels // divisor
                out_channels = child.out_channels if keep_out \
                    else child.out_channels // divisor
                new = nn.Conv2d(in_channels, out_channels, child.kernel_size,
                                child.stride, child.padding, child.dilation,
                                child.groups, child.bias is not None)
            elif isinstance(child, nn.BatchNorm2d):
                num_features = child.num_features if keep_out \
                    else child.num_features // divisor
                new = nn.BatchNorm2d(num_features, child.eps, child.momentum)
            elif isinstance(child, nn.Linear):
                new = nn.Linear(child.in_features // divisor,
                                child.out_features, child.bias is not None)
            else:
                continue
            setattr(parent, name, new)


def randomize(model: nn.Module, generator: torch.Generator) -> None:
    """Give weights, BatchNorm affine parameters and statistics random values.

    Conv weights are He-normal so activations keep their scale through 16
    blocks; BatchNorm statistics are random, so the eval-mode output depends
    on them and a wrong key mapping of any statistic changes the logits.
    """
    def normal(shape: Tuple[int, ...], std: float) -> torch.Tensor:
        return torch.randn(shape, generator=generator) * std

    def uniform(shape: Tuple[int, ...], low: float,
                high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape, generator=generator)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(normal(module.weight.shape,
                                           (2.0 / fan_in) ** 0.5))
            elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
                size = (module.num_features,)
                module.weight.copy_(uniform(size, 0.5, 1.0))
                module.bias.copy_(normal(size, 0.1))
                module.running_mean.copy_(normal(size, 0.1))
                module.running_var.copy_(uniform(size, 0.5, 2.0))
                module.num_batches_tracked.fill_(100)
            elif isinstance(module, nn.Linear):
                std = module.in_features ** -0.5
                module.weight.copy_(normal(module.weight.shape, std))
                module.bias.copy_(normal(module.bias.shape, 0.1))


def head_logits_2d(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    feats, kwargs = model.extract_feat(inputs, test_mode=True)
    return model.cls_head(feats, **kwargs)


def head_logits_3d(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    feats, _ = model.extract_feat(inputs, test_mode=True)
    return model.cls_head(feats)


def family_configs() -> Dict[str, Tuple[dict, Tuple[int, ...], Callable,
                                        int]]:
    """Return model config, input shape, logits function and width divisor
    per family, following mmaction2 1.2.0's configs for each family."""
    tsn = dict(
        type='Recognizer2D',
        backbone=dict(type='ResNet', depth=50, pretrained=None,
                      norm_eval=False),
        cls_head=dict(type='TSNHead', num_classes=NUM_CLASSES,
                      in_channels=2048, spatial_type='avg',
                      consensus=dict(type='AvgConsensus', dim=1),
                      dropout_ratio=0.4, init_std=0.01))
    tsm = dict(
        type='Recognizer2D',
        backbone=dict(type='ResNetTSM', depth=50, pretrained=None,
                      num_segments=4, shift_div=8, norm_eval=False),
        cls_head=dict(type='TSMHead', num_classes=NUM_CLASSES,
                      in_channels=2048, num_segments=4, spatial_type='avg',
                      consensus=dict(type='AvgConsensus', dim=1),
                      dropout_ratio=0.5, init_std=0.001, is_shift=True))
    i3d = dict(
        type='Recognizer3D',
        backbone=dict(type='ResNet3d', depth=50, pretrained=None,
                      pretrained2d=False, base_channels=BASE_CHANNELS_3D,
                      conv1_kernel=(5, 7, 7), conv1_stride_t=2,
                      pool1_stride_t=2, conv_cfg=dict(type='Conv3d'),
                      norm_eval=False,
                      inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0),
                               (0, 1, 0)),
                      zero_init_residual=False),
        cls_head=dict(type='I3DHead', num_classes=NUM_CLASSES,
                      in_channels=BASE_CHANNELS_3D * 32, spatial_type='avg',
                      dropout_ratio=0.5, init_std=0.01))
    slowonly = dict(
        type='Recognizer3D',
        backbone=dict(type='ResNet3dSlowOnly', depth=50, pretrained=None,
                      pretrained2d=False, base_channels=BASE_CHANNELS_3D,
                      lateral=False, conv1_kernel=(1, 7, 7),
                      conv1_stride_t=1, pool1_stride_t=1,
                      inflate=(0, 0, 1, 1), norm_eval=False),
        cls_head=dict(type='I3DHead', num_classes=NUM_CLASSES,
                      in_channels=BASE_CHANNELS_3D * 32, spatial_type='avg',
                      dropout_ratio=0.5, init_std=0.01))
    return {
        # (N, segments, C, H, W)
        'tsn_r50': (tsn, (BATCH, 3, 3, 48, 48), head_logits_2d,
                    WIDTH_DIVISOR_2D),
        'tsm_r50': (tsm, (BATCH, 4, 3, 48, 48), head_logits_2d,
                    WIDTH_DIVISOR_2D),
        # (N, views, C, T, H, W)
        'i3d_r50': (i3d, (BATCH, 1, 3, 8, 40, 40), head_logits_3d, 1),
        'slowonly_r50': (slowonly, (BATCH, 1, 3, 4, 40, 40), head_logits_3d,
                         1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True,
                        help='folder that receives the fixture files')
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    patch_environment()
    import mmaction
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    register_all_modules()

    for name, (cfg, input_shape, logits_fn, divisor) in \
            family_configs().items():
        generator = torch.Generator().manual_seed(SEED)
        # init_weights() is not called: randomize() sets every tensor, and
        # ResNetTSM's init_weights() fails without a pretrained file.
        model = MODELS.build(cfg)
        if divisor > 1:
            narrow_channels(model, divisor)
        randomize(model, generator)
        model.eval()

        inputs = torch.randn(input_shape, generator=generator)
        with torch.no_grad():
            logits = logits_fn(model, inputs)

        state_dict = {k: v.clone() for k, v in model.state_dict().items()}
        meta = dict(mmaction2_version=mmaction.__version__,
                    torch_version=str(torch.__version__), seed=SEED,
                    model_config=cfg, width_divisor=divisor,
                    script='tools/mmaction2/make_references.py')
        torch.save({'state_dict': state_dict, 'meta': meta},
                   out / f'{name}.pth')
        np.save(out / f'{name}_input.npy', inputs.numpy())
        np.save(out / f'{name}_logits.npy', logits.numpy())
        print(f'{name}: {len(state_dict)} keys, logits '
              f'{tuple(logits.shape)}, |logits| max '
              f'{logits.abs().max():.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
