# Fine-tune the per-frame model of
# transformer_effnetlite0_perframe_skvideo_demo.py to a new style image. The
# network keeps what it learned about content and textures and adapts to the
# new Gram matrices faster than training from scratch. Use any image:
#   vidft train configs/stylization/transformer_effnetlite0_newstyle_skvideo_demo.py \
#       --cfg-options model.perceptual_loss.style_image=/path/to/painting.jpg \
#       val_evaluator.perceptual_loss.style_image=/path/to/painting.jpg
# The example style is scikit-image's Hubble deep field photo
# (skimage.data.hubble_deep_field()), which ships with an installed package.
_base_ = ['./transformer_effnetlite0_perframe_skvideo_demo.py']

_style_image = 'skimage://hubble_deep_field.jpg'

load_from = ('work_dirs/transformer_effnetlite0_perframe_skvideo_demo/'
             'iter_600.pth')

model = dict(perceptual_loss=dict(style_image=_style_image))
val_evaluator = dict(perceptual_loss=dict(style_image=_style_image))

_max_iters = 100
train_cfg = dict(max_iters=_max_iters, val_interval=_max_iters)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=_max_iters, by_epoch=False,
         eta_min=1e-4)
]
default_hooks = dict(checkpoint=dict(interval=_max_iters))
