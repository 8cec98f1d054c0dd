# RIFE v4.6 flow network with the public flownet.pkl layout (no refinement
# U-Net, no timestep prior), for inference with converted weights:
#   vidft infer configs/interpolation/rife_v46.py train_log/flownet.pkl INPUT.mp4 --out OUTPUT.mp4
# The weights load through vidft_interpolation.converters.convert_rife_v4_keys.
default_scope = 'vidft'

model = dict(
    type='interpolation.RIFE',
    flow_channels=(192, 128, 96, 64),
    scales=(8, 4, 2, 1),
    num_convs=8,
    refine_channels=None,
    timestep_prior=False,
    ensemble=False,
    pixel_loss=dict(type='interpolation.LaplacianPyramidLoss', num_levels=5),
    data_preprocessor=dict(type='interpolation.InterpolationDataPreprocessor'))

inferencer = dict(type='interpolation.InterpolationInferencer')
