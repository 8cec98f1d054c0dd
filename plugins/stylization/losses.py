"""Perceptual, total-variation and temporal losses of video style transfer.

Definitions (``x`` and ``y`` are float tensors; every mean runs over all
elements of its operand, batch included):

* Gram matrix of features ``F`` of shape ``(N, C, H, W)``:
  ``G = F F^T / (C * H * W)``, shape ``(N, C, C)`` (:func:`gram_matrix`).
  The normalisation by ``C * H * W`` makes Gram matrices of images of
  different sizes comparable.
* Content loss: ``mean((F_out - F_content)^2)`` on one layer.
* Style loss: ``sum_l w_l * mean_n ||G_l(out)_n - G_l(style)||_F^2``, the
  squared Frobenius distance of Gram matrices (Johnson et al., ECCV 2016),
  summed over the style layers with per-layer weights ``w_l``.
* Total variation: ``mean((x[h+1] - x[h])^2) + mean((x[w+1] - x[w])^2)``.
* Temporal loss: ``mean(M * (O_t - warp(O_{t-1}))^2)`` over ``N, C, H, W``,
  with ``M`` the non-occlusion mask, the short-term temporal loss of Ruder
  et al., "Artistic Style Transfer for Videos" (GCPR 2016), whose
  normalisation is the pixel count times channels ``D = W * H * C``.
"""
import logging
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidft.models.ops import flow_warp
from vidft.registry import BACKBONES

from .registry import LOSSES
from .style_image import load_style_image

logger = logging.getLogger(__name__)

StyleLayers = Union[Sequence[str], Mapping[str, float]]


def gram_matrix(features: Tensor) -> Tensor:
    """Return ``F F^T / (C * H * W)`` of features ``(N, C, H, W)``, computed
    in float32, shape ``(N, C, C)``."""
    if features.dim() != 4:
        raise ValueError(f'expected features (N, C, H, W), got shape '
                         f'{tuple(features.shape)}')
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference of two feature maps."""
    return F.mse_loss(features.float(), target.float())


def style_loss(grams: Sequence[Tensor], targets: Sequence[Tensor],
               weights: Sequence[float]) -> Tensor:
    """Weighted sum over layers of the squared Frobenius distance between
    Gram matrices ``(N, C, C)`` and targets ``(C, C)`` or ``(N, C, C)``,
    averaged over the batch."""
    total = grams[0].new_zeros(())
    for gram, target, weight in zip(grams, targets, weights):
        distance = (gram - target).pow(2).sum(dim=(-2, -1))
        total = total + weight * distance.mean()
    return total


def total_variation(images: Tensor) -> Tensor:
    """Mean squared difference of vertical plus horizontal neighbours."""
    vertical = (images[..., 1:, :] - images[..., :-1, :]).pow(2).mean()
    horizontal = (images[..., :, 1:] - images[..., :, :-1]).pow(2).mean()
    return vertical + horizontal


def temporal_loss(current: Tensor, previous: Tensor, flow: Tensor,
                  valid_mask: Tensor) -> Tensor:
    """Short-term temporal loss (see the module doc).

    Args:
        current: Output at frame ``t``, ``(N, C, H, W)``.
        previous: Output at frame ``t - 1``, same shape.
        flow: Flow from frame ``t`` to ``t - 1`` in pixels, ``(N, 2, H, W)``.
        valid_mask: 1 for pixels of frame ``t`` visible in ``t - 1``,
            ``(N, 1, H, W)``.
    """
    warped = flow_warp(previous, flow, padding_mode='border')
    return (valid_mask * (current - warped).pow(2)).mean()


def _normalize_style_layers(layers: StyleLayers) -> Dict[str, float]:
    if isinstance(layers, str):
        raise TypeError(f'expected a list or dict of style layers, got the '
                        f'str {layers!r}; write [{layers!r}]')
    if isinstance(layers, Mapping):
        weights = {str(k): float(v) for k, v in layers.items()}
    else:
        weights = {str(name): 1.0 for name in layers}
    if not weights:
        raise ValueError('expected at least one style layer, got none')
    return weights


@LOSSES.register_module()
class PerceptualLoss(nn.Module):
    """Content, style and total-variation losses through a frozen network.

    The loss network is any vidft backbone that returns named features
    (``TimmBackbone`` or ``TorchvisionBackbone`` with ``feature_names``,
    which this class sets from ``content_layer`` and ``style_layers``). It
    is loaded with its pretrained weights, frozen and kept in eval mode.
    It is deliberately not a submodule: its weights stay out of the
    model's checkpoints, optimizer and DDP, and ``.to()``, ``.cuda()`` and
    ``.half()`` still reach it through :meth:`_apply`.

    Args:
        loss_network: BACKBONES config of the loss network. Its
            ``pretrained`` / ``weights`` may be a local file,
            ``'torchvision://VGG16_Weights.IMAGENET1K_V1'``, ``'timm://...'``
            or ``'package://<package>/<file>'`` (see
            :func:`vidft.finetune.resolve_weights`).
        content_layer: Module name of the content features.
        style_layers: Module names of the style features, or a dict from
            name to per-layer weight (1.0 each for a list).
        style_image: Style image file, ``'skimage://<file>'``, or None for
            :data:`vidft_stylization.style_image.DEFAULT_STYLE_IMAGE`.
        style_size: Longer side of the style image in pixels when its Gram
            matrices are computed; None keeps the file's size.
        mean: Per-channel mean the loss network expects, in 0-255 units.
        std: Per-channel std the loss network expects, in 0-255 units.
        content_weight: Factor of the content loss.
        style_weight: Factor of the style loss.
        tv_weight: Factor of the total-variation loss; 0 disables it.
    """

    def __init__(self,
                 loss_network: dict,
                 content_layer: str,
                 style_layers: StyleLayers,
                 style_image: Optional[str] = None,
                 style_size: Optional[int] = 256,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 content_weight: float = 1.0,
                 style_weight: float = 1.0,
                 tv_weight: float = 0.0) -> None:
        super().__init__()
        self.content_layer = str(content_layer)
        self.style_weights = _normalize_style_layers(style_layers)
        self.style_layers: List[str] = list(self.style_weights)
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.style_size = style_size
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'expected 3 values for mean and std, got '
                             f'{list(mean)} and {list(std)}')
        self.register_buffer(
            'mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
            / 255.0, persistent=False)
        self.register_buffer(
            'std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
            / 255.0, persistent=False)

        self._network = [self._build_network(loss_network)]
        self.set_style(style_image)

    def _build_network(self, cfg: dict) -> nn.Module:
        if not isinstance(cfg, dict) or 'type' not in cfg:
            raise TypeError(f"expected loss_network to be a backbone config "
                            f"dict with 'type', got {cfg!r}")
        cfg = dict(cfg)
        if cfg.get('feature_names') is not None or cfg.get('out_indices'):
            raise ValueError(
                'loss_network sets feature_names or out_indices, but '
                'PerceptualLoss sets them from content_layer and '
                'style_layers; remove them from loss_network')
        names = list(dict.fromkeys([self.content_layer] + self.style_layers))
        cfg['feature_names'] = names
        network = BACKBONES.build(cfg)
        network.init_weights()
        if getattr(network, 'pretrained', None) is None:
            logger.warning(
                'The loss network %s has no pretrained weights, so the '
                'perceptual losses compare random features; set its '
                'pretrained (timm) or weights (torchvision) entry',
                cfg['type'])
        network.requires_grad_(False)
        network.eval()
        return network

    @property
    def network(self) -> nn.Module:
        """The frozen loss network."""
        return self._network[0]

    def _apply(self, fn, recurse: bool = True) -> 'PerceptualLoss':
        super()._apply(fn, recurse)
        self._network[0]._apply(fn, recurse)
        return self

    def train(self, mode: bool = True) -> 'PerceptualLoss':
        # The loss network stays in eval mode: BatchNorm statistics frozen.
        super().train(mode)
        self._network[0].eval()
        return self

    def features(self, images: Tensor) -> Dict[str, Tensor]:
        """Return the loss network's named features of RGB ``images`` in
        ``[0, 1]``, shape ``(N, 3, H, W)``."""
        return self.network((images - self.mean) / self.std)

    @torch.no_grad()
    def set_style(self, style_image: Union[str, np.ndarray, None]) -> None:
        """Compute the target Gram matrices of a new style image (file,
        ``'skimage://<file>'``, uint8 RGB array or None for the default)."""
        image = load_style_image(style_image, self.style_size)
        device = self.mean.device
        tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        features = self.features(tensor.to(device) / 255.0)
        for index, name in enumerate(self.style_layers):
            self.register_buffer(f'style_gram_{index}',
                                 gram_matrix(features[name])[0],
                                 persistent=False)
        self.style_image = (style_image if not isinstance(
            style_image, np.ndarray) else '<array>')
        logger.debug('Style targets from %s at %s', self.style_image,
                     image.shape[:2])

    def style_targets(self) -> List[Tensor]:
        """Return the Gram matrices ``(C, C)`` of the style image, one per
        style layer."""
        return [getattr(self, f'style_gram_{i}')
                for i in range(len(self.style_layers))]

    def compute(self, output: Tensor, content: Tensor) -> Dict[str, Tensor]:
        """Return the unweighted ``content``, ``style`` and ``tv`` losses of
        ``output`` against the frames ``content`` (both ``(N, 3, H, W)`` in
        ``[0, 1]``)."""
        out_features = self.features(output)
        with torch.no_grad():
            content_features = self.features(content)[self.content_layer]
        grams = [gram_matrix(out_features[name]) for name in self.style_layers]
        weights = [self.style_weights[name] for name in self.style_layers]
        return dict(
            content=content_loss(out_features[self.content_layer],
                                 content_features),
            style=style_loss(grams, self.style_targets(), weights),
            tv=total_variation(output.float()))

    def forward(self, output: Tensor, content: Tensor) -> Dict[str, Tensor]:
        """Return the weighted losses ``loss_content``, ``loss_style`` and,
        when ``tv_weight > 0``, ``loss_tv``."""
        losses = self.compute(output, content)
        weighted = dict(loss_content=self.content_weight * losses['content'],
                        loss_style=self.style_weight * losses['style'])
        if self.tv_weight > 0:
            weighted['loss_tv'] = self.tv_weight * losses['tv']
        return weighted
