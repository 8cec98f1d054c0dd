"""Data sample of one pair of consecutive frames."""
from mmengine.structures import BaseDataElement


class StylizationDataSample(BaseDataElement):
    """Optical flow, occlusion mask, prediction and meta information of one
    pair of consecutive frames ``(t - 1, t)``.

    Data fields:
        flow: Optical flow from frame ``t`` to frame ``t - 1`` in pixels,
            float32 ``(2, H, W)`` (channel 0 horizontal). Warping with it
            (:func:`vidft.models.ops.flow_warp`) brings frame ``t - 1``
            onto frame ``t``.
        valid_mask: 1 where the forward-backward flow check finds the pixel
            of frame ``t`` visible in frame ``t - 1``, 0 where it is
            occluded; float32 ``(1, H, W)``.
        pred_frames: Stylized pair, float ``(2, 3, H, W)`` in ``[0, 1]``.

    Meta fields (set by ``stylization.PackStylizationInputs``):
    ``filename``, ``sequence``, ``frame_inds``, ``img_shape`` and ``fps``.
    """
