"""Data sample of one VSR clip."""
from mmengine.structures import BaseDataElement


class VSRDataSample(BaseDataElement):
    """Ground truth, prediction and meta information of one clip.

    Data fields:
        gt_frames: HR frames, uint8 tensor ``(T, 3, H, W)``, RGB.
        pred_frames: Model output, float tensor ``(T, 3, H, W)`` in
            ``[0, 1]`` (the PSNR and SSIM metrics round it to uint8).

    Meta fields (set by ``vsr.PackVSRInputs``): ``sequence`` (name of the
    source sequence or video), ``scale``, ``frame_inds``, ``lr_shape`` and
    ``gt_shape`` (``(H, W)``).
    """
