"""RIFE-style interpolation model: intermediate flows, fusion and refinement."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from vidft.finetune import init_cfg_loads_checkpoint

from ..registry import MODELS
from .base import BaseInterpolator, ModelOutput, stack_sample_field
from .flow_prior import ClassicalFlowPrior
from .ifnet import ConvLReLU, IntermediateFlowNet, swap_flows
from .padding import crop_to, pad_to_multiple


#: Lower and upper bound of the fusion mask, so that the timestep-weighted
#: fusion never divides zero by zero at t = 0 or t = 1.
MASK_EPS = 1e-6

# Refinement input: both frames, both warped frames, mask logit, 4 flow channels.
REFINE_INPUTS = 3 + 3 + 3 + 3 + 1 + 4


class RefineUNet(nn.Module):
    """A two-level U-Net that predicts a residual in [-1, 1] for the fused frame."""

    #: Frame height and width must be multiples of this.
    size_divisor = 4

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.enc0 = nn.Sequential(ConvLReLU(REFINE_INPUTS, c), ConvLReLU(c, c))
        self.enc1 = nn.Sequential(ConvLReLU(c, 2 * c, stride=2), ConvLReLU(2 * c, 2 * c))
        self.enc2 = nn.Sequential(ConvLReLU(2 * c, 4 * c, stride=2), ConvLReLU(4 * c, 4 * c))
        self.up1 = nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1)
        self.dec1 = ConvLReLU(4 * c, 2 * c)
        self.up0 = nn.ConvTranspose2d(2 * c, c, 4, 2, 1)
        self.dec0 = ConvLReLU(2 * c, c)
        self.out = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        skip0 = self.enc0(x)
        skip1 = self.enc1(skip0)
        bottom = self.enc2(skip1)
        up1 = self.dec1(torch.cat((self.up1(bottom), skip1), dim=1))
        up0 = self.dec0(torch.cat((self.up0(up1), skip0), dim=1))
        return torch.tanh(self.out(up0))


def fuse(warped0: Tensor, warped1: Tensor, mask_logit: Tensor, timestep: Tensor,
         timestep_prior: bool) -> Tensor:
    """Blend the two warped frames with the fusion mask.

    The weight of ``warped0`` is ``m = sigmoid(mask_logit)``. With
    ``timestep_prior`` it becomes ``(1 - t) m / ((1 - t) m + t (1 - m))``.
    Then only ``warped0`` counts at ``t = 0`` and only ``warped1`` at
    ``t = 1``, whatever the mask.
    """
    weight0 = torch.sigmoid(mask_logit.float())
    if timestep_prior:
        weight0 = weight0.clamp(MASK_EPS, 1.0 - MASK_EPS)
        t = timestep.float().view(-1, 1, 1, 1)
        share0 = (1.0 - t) * weight0
        weight0 = share0 / (share0 + t * (1.0 - weight0))
    return weight0 * warped0.float() + (1.0 - weight0) * warped1.float()


@MODELS.register_module()
class RIFE(BaseInterpolator):
    """Intermediate-flow interpolation in the style of RIFE.

    The flow network (:class:`IntermediateFlowNet`) estimates F_t->0,
    F_t->1 and a fusion mask coarse to fine; the frames are warped backward
    with ``grid_sample`` and fused; an optional U-Net adds a residual.

    Args:
        flow_channels: Width of each IFBlock, coarsest first.
        scales: Downscaling factor of each IFBlock.
        num_convs: Residual convolutions per IFBlock.
        refine_channels: Width of the refinement U-Net, or None for none
            (as in the public RIFE v4 models).
        timestep_prior: Weight the fusion mask by the timestep and scale the
            residual by ``4 t (1 - t)``, so that ``t = 0`` and ``t = 1``
            return the warped input frames. Keep False for RIFE v4 weights,
            which were trained without it.
        ensemble: Average the estimate of the swapped frame pair at
            ``1 - t`` in every block and in the refinement, which makes the
            output symmetric under swapping the frames at twice the cost.
        init_as_averaging: Zero-initialise the layers that output flows,
            mask logits and the refinement residual. The untrained model
            then returns ``(1 - t) I0 + t I1`` with ``timestep_prior`` (the
            plain average without it), so training starts from the frame
            averaging baseline instead of from random warps. Loaded
            ``pretrained`` weights replace these layers.
        warp_loss_weight: Weight of the warping loss of Super SloMo (Jiang
            et al., CVPR 2018): the pixel loss between the target and each
            input frame warped to ``t`` by its estimated flow, added to the
            losses as ``loss_warp``. 0 turns it off.
        flow_distill_weight: Weight of a flow distillation loss,
            ``loss_flow_distill``: the mean end-point distance, over pixels
            and blocks, between the flows after each block and the
            ``teacher_flow`` of the data samples (classical flow from the
            target frame to each input, added by
            ``interpolation.TeacherFlow``). RIFE (Huang et al., ECCV 2022)
            distils the flow of a teacher block that is given the target
            frame, and IFRNet (Kong et al., CVPR 2022) the flow of a
            pretrained flow network. Here the teacher is OpenCV's DIS and
            needs no training. 0 turns it off.
        flow_prior: Settings of a classical optical flow between the two
            input frames (:class:`~.flow_prior.ClassicalFlowPrior`), for
            example ``dict(method='dis', preset='medium')``, or None. With
            it, the intermediate flows start from that flow's linear-motion
            approximation and every IFBlock, the first included, refines
            them, as Super SloMo and DAIN start from a pretrained flow
            network. The prior runs on the CPU and is not learned. With
            ``init_as_averaging`` the untrained model averages the two
            frames warped by the prior. RIFE v4.6 weights do not fit the
            first block then, and loading them raises an error. ``{}``
            gives the default, DIS with the preset medium.
        pretrained: Optional path of weights loaded by :meth:`init_weights`,
            a vidft checkpoint or a RIFE v4.6 ``flownet.pkl`` (see
            :func:`vidft_interpolation.converters.load_interpolation_weights`).
        pixel_loss, census_loss, data_preprocessor, init_cfg: See
            :class:`BaseInterpolator`.
    """

    def __init__(self,
                 flow_channels: Sequence[int] = (192, 128, 96, 64),
                 scales: Sequence[int] = (8, 4, 2, 1),
                 num_convs: int = 8,
                 refine_channels: Optional[int] = 32,
                 timestep_prior: bool = True,
                 ensemble: bool = False,
                 init_as_averaging: bool = False,
                 warp_loss_weight: float = 0.0,
                 flow_distill_weight: float = 0.0,
                 flow_prior: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 pixel_loss: Optional[dict] = None,
                 census_loss: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(pixel_loss=pixel_loss, census_loss=census_loss,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.flow_prior = ClassicalFlowPrior(flow_prior) if flow_prior is not None else None
        self.flow_net = IntermediateFlowNet(flow_channels, scales, num_convs, ensemble,
                                            initial_flow=self.flow_prior is not None)
        self.refine = RefineUNet(refine_channels) if refine_channels else None
        self.timestep_prior = timestep_prior
        self.ensemble = ensemble
        self.pretrained = pretrained
        for name, weight in (('warp_loss_weight', warp_loss_weight),
                             ('flow_distill_weight', flow_distill_weight)):
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f'expected {name} to be a finite number '
                                 f'>= 0, got {weight}')
        self.warp_loss_weight = warp_loss_weight
        self.flow_distill_weight = flow_distill_weight
        self.init_as_averaging = init_as_averaging
        self._zero_output_layers()

    def _zero_output_layers(self) -> None:
        """Apply ``init_as_averaging``: zero the flow, mask and residual
        output layers."""
        if not self.init_as_averaging:
            return
        outputs = [block.head for block in self.flow_net.blocks]
        if self.refine is not None:
            outputs.append(self.refine.out)
        for layer in outputs:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def size_divisor(self) -> int:  # type: ignore[override]
        divisor = self.flow_net.size_divisor
        if self.refine is not None:
            divisor = math.lcm(divisor, self.refine.size_divisor)
        return divisor

    def init_weights(self) -> None:
        super().init_weights()
        # After init_cfg, which would otherwise undo init_as_averaging,
        # unless init_cfg loaded weights.
        if not init_cfg_loads_checkpoint(self.init_cfg):
            self._zero_output_layers()
        if self.pretrained:
            from ..converters import load_interpolation_weights
            load_interpolation_weights(self, self.pretrained)

    def interpolate(self, frame0: Tensor, frame1: Tensor, timestep: Tensor) -> Tensor:
        return self._interpolate(frame0, frame1, timestep)[0]

    def _interpolate(self, frame0: Tensor, frame1: Tensor, timestep: Tensor,
                     block_flows: Optional[List[Tensor]] = None
                     ) -> Tuple[Tensor, Tensor, Tensor]:
        """Return the prediction and the two frames warped to ``t``."""
        init_flow = None
        if self.flow_prior is not None:
            init_flow = self.flow_prior(frame0, frame1, timestep)
        flow, mask, warped0, warped1 = self.flow_net(frame0, frame1, timestep,
                                                     block_flows, init_flow)
        fused = fuse(warped0, warped1, mask, timestep, self.timestep_prior)
        if self.refine is None:
            return fused.clamp(0.0, 1.0), warped0, warped1

        dtype = warped0.dtype
        refine_in = torch.cat((frame0, frame1, warped0, warped1,
                               mask.to(dtype), flow.to(dtype)), dim=1)
        residual = self.refine(refine_in).float()
        if self.ensemble:
            swapped_in = torch.cat((frame1, frame0, warped1, warped0,
                                    -mask.to(dtype), swap_flows(flow).to(dtype)), dim=1)
            residual = (residual + self.refine(swapped_in).float()) / 2
        if self.timestep_prior:
            t = timestep.float().view(-1, 1, 1, 1)
            residual = residual * (4.0 * t * (1.0 - t))
        return (fused + residual).clamp(0.0, 1.0), warped0, warped1

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[BaseDataElement]] = None,
                mode: str = 'tensor') -> ModelOutput:
        if mode != 'loss' or not (self.warp_loss_weight or self.flow_distill_weight):
            return super().forward(inputs, data_samples, mode)
        self.check_inputs(inputs)
        timestep = self.gather_timesteps(data_samples, inputs)
        padded, size = pad_to_multiple(inputs, self.size_divisor)
        block_flows: List[Tensor] = []
        pred, warped0, warped1 = self._interpolate(padded[:, 0], padded[:, 1],
                                                   timestep, block_flows)
        gt = self.gather_gt(data_samples)
        losses = self.compute_losses(crop_to(pred, size), gt)
        if self.warp_loss_weight:
            # Each frame warped by its flow alone should already show the
            # target, which trains the flows directly instead of only
            # through the fused and refined prediction.
            warp_loss = (self.pixel_loss(crop_to(warped0, size), gt) +
                         self.pixel_loss(crop_to(warped1, size), gt)) / 2
            losses['loss_warp'] = self.warp_loss_weight * warp_loss
        if self.flow_distill_weight:
            teacher = stack_sample_field(
                data_samples, 'teacher_flow', 'when flow_distill_weight > 0; add '
                'interpolation.TeacherFlow to the training pipeline before '
                'PackInterpolationInputs').to(pred.device)
            distances = [flow_endpoint_distance(crop_to(flow, size), teacher)
                         for flow in block_flows]
            losses['loss_flow_distill'] = (self.flow_distill_weight *
                                           torch.stack(distances).mean())
        return losses


def flow_endpoint_distance(flow: Tensor, target: Tensor) -> Tensor:
    """Mean end-point distance of the two flow pairs (N, 4, H, W): the
    Euclidean distance per pixel, for F_t->0 and F_t->1, averaged."""
    error = (flow.float() - target.float()).view(flow.shape[0], 2, 2, *flow.shape[-2:])
    return error.pow(2).sum(dim=2).add(1e-6).sqrt().mean()
