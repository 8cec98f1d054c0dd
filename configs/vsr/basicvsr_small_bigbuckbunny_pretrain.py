# The "checkpoint trained on other footage" of the fine-tuning demo: the
# small BasicVSR of basicvsr_small_scratch_demo.py trained on the animated
# film bigbuckbunny.mp4 alone, validated on the same bikes.mp4 frames.
#   vidft train configs/vsr/basicvsr_small_bigbuckbunny_pretrain.py
# Then fine-tune it on real camera footage:
#   vidft train configs/vsr/basicvsr_small_finetune_carphone_demo.py
_base_ = ['./basicvsr_small_scratch_demo.py']

train_dataloader = dict(dataset=dict(sequences=['bigbuckbunny']))

_max_iters = 600
train_cfg = dict(max_iters=_max_iters, val_interval=_max_iters)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=_max_iters, by_epoch=False,
         eta_min=1e-5)
]
default_hooks = dict(checkpoint=dict(interval=_max_iters))
