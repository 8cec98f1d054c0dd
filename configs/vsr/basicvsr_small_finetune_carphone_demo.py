# Fine-tuning demo: start from the checkpoint of
# basicvsr_small_bigbuckbunny_pretrain.py (trained on an animated film) and
# fine-tune it on carphone_pristine.mp4, real camera footage standing in for
# "your own footage". Validation is the held-out bikes.mp4, as in the other
# VSR demos. SPyNet is frozen for the first iterations and then trained at a
# lower lr (from the base config), the mmagic recipe for BasicVSR.
#   vidft train configs/vsr/basicvsr_small_bigbuckbunny_pretrain.py
#   vidft train configs/vsr/basicvsr_small_finetune_carphone_demo.py
# Both arms, fine-tuned and from scratch, with PSNR over iterations:
#   python tools/finetune_report.py configs/vsr/basicvsr_small_finetune_carphone_demo.py \
#       --strategies full,scratch --metric Y-crop4-range255/PSNR
_base_ = ['./basicvsr_small_scratch_demo.py']

load_from = 'work_dirs/basicvsr_small_bigbuckbunny_pretrain/iter_600.pth'

train_dataloader = dict(dataset=dict(sequences=['carphone_pristine']))

_max_iters = 400
train_cfg = dict(max_iters=_max_iters, val_interval=100)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=_max_iters, by_epoch=False,
         eta_min=1e-5)
]
default_hooks = dict(checkpoint=dict(interval=_max_iters))
