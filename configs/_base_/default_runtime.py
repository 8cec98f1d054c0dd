# Runtime settings shared by every vidft recipe: scope, hooks, logging,
# visualization and process environment.
default_scope = 'vidft'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keeps the three newest epoch checkpoints plus the best one by the first
    # validation metric ('auto'); recipes without validation save no best.
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3,
        save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'))

# 'nccl' is the process-group backend for GPU runs; without a GPU, vidft.engine
# replaces it with 'gloo'.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

# LocalVisBackend writes the logged scalars as JSON lines to
# <work_dir>/<timestamp>/vis_data/scalars.json. TensorBoard is not listed
# here because the tensorboard package is optional; adding its backend when
# the package is installed is left to vidft.engine.
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False

# seed=None draws a random seed per run; set randomness.seed for repeatable
# runs, and deterministic=True for deterministic cuDNN kernels as well.
randomness = dict(seed=None, diff_rank_seed=False, deterministic=False)
