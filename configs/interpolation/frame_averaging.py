# Frame-averaging baseline ((1 - t) * frame0 + t * frame1); needs no weights.
default_scope = 'vidft'

model = dict(
    type='interpolation.FrameAveraging',
    data_preprocessor=dict(type='interpolation.InterpolationDataPreprocessor'))

inferencer = dict(type='interpolation.InterpolationInferencer')
