"""Launcher detection and process-group set-up for CPU and GPU training.

mmengine 0.10.7 initialises the process group itself, but its ``pytorch`` and
``slurm`` launchers call ``torch.cuda.set_device`` unconditionally, and its
default DDP wrapper passes ``device_ids=[LOCAL_RANK]``. Both fail on a machine
without a GPU. On CPU, vidft therefore creates the ``gloo`` process group
before the runner is built, so the runner finds it initialised and skips its
own set-up, and it sets ``device_ids=None`` for DDP. On GPU, mmengine's own
path runs unchanged.
"""
import datetime
import os
import subprocess
from typing import Any, Dict, Mapping, Optional

import torch
import torch.distributed as torch_dist
from torch.distributed.constants import default_pg_timeout
from mmengine.logging import MMLogger

LAUNCHERS = ('none', 'pytorch', 'slurm')

# Variables that torchrun (torch.distributed.run) sets in every worker.
TORCHRUN_ENV = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR',
                'MASTER_PORT')

# torch.distributed's default rendezvous port.
DEFAULT_MASTER_PORT = '29500'


def running_under_torchrun(environ: Optional[Mapping[str, str]] = None
                           ) -> bool:
    """Check for the environment variables that torchrun sets."""
    environ = os.environ if environ is None else environ
    return all(name in environ for name in TORCHRUN_ENV)


def resolve_launcher(launcher: str,
                     environ: Optional[Mapping[str, str]] = None) -> str:
    """Return the launcher to use, switching ``'none'`` to ``'pytorch'`` under
    torchrun so that ``torchrun tools/train.py CONFIG`` needs no flag."""
    if launcher not in LAUNCHERS:
        raise ValueError(f'expected launcher in {LAUNCHERS}, got '
                         f'{launcher!r}')
    if launcher == 'none' and running_under_torchrun(environ):
        MMLogger.get_current_instance().info(
            'torchrun environment detected (RANK, WORLD_SIZE, MASTER_ADDR '
            "are set): using launcher 'pytorch'")
        return 'pytorch'
    return launcher


def uses_gpu() -> bool:
    """Check whether training runs on CUDA devices.

    Set ``CUDA_VISIBLE_DEVICES=`` (empty) to train on CPU on a GPU machine.
    """
    return torch.cuda.is_available()


def _timeout_of(dist_cfg: Mapping[str, Any]) -> Optional[datetime.timedelta]:
    timeout = dist_cfg.get('timeout')
    if timeout is None:
        return None
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError('expected env_cfg.dist_cfg.timeout to be a positive '
                         f'number of seconds, got {timeout!r}')
    return datetime.timedelta(seconds=timeout)


def _export_slurm_env() -> None:
    """Translate the SLURM task variables into torch.distributed's env://
    variables, keeping any that are already set."""
    required = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST')
    missing = [name for name in required if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"launcher 'slurm' needs the variables {', '.join(required)}, "
            f"but {', '.join(missing)} is not set; start the job with srun, "
            "or use --launcher pytorch under torchrun")
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    os.environ.setdefault('MASTER_PORT', DEFAULT_MASTER_PORT)
    if 'MASTER_ADDR' not in os.environ:
        # The first host of the allocation hosts the rendezvous.
        hosts = subprocess.run(
            ['scontrol', 'show', 'hostnames', os.environ['SLURM_NODELIST']],
            check=True, capture_output=True, text=True).stdout.split()
        if not hosts:
            raise RuntimeError('scontrol returned no host for SLURM_NODELIST='
                               f"{os.environ['SLURM_NODELIST']!r}; set "
                               'MASTER_ADDR to the first node of the job')
        os.environ['MASTER_ADDR'] = hosts[0]


def init_cpu_process_group(launcher: str, dist_cfg: Mapping[str, Any]) -> None:
    """Create the ``gloo`` process group for CPU training.

    Does nothing when the group already exists. A ``backend`` in ``dist_cfg``
    other than ``gloo`` (mmaction2 configs set ``nccl``) is replaced, with an
    INFO line, because no other backend runs on CPU.
    """
    if torch_dist.is_initialized():
        return
    if launcher == 'slurm':
        _export_slurm_env()
    elif launcher != 'pytorch':
        raise ValueError("expected launcher 'pytorch' or 'slurm' for a "
                         f'process group, got {launcher!r}')
    elif not running_under_torchrun():
        missing = [name for name in TORCHRUN_ENV if name not in os.environ]
        raise RuntimeError(
            f"launcher 'pytorch' needs the variables {', '.join(missing)}, "
            'which torchrun sets; start the command with torchrun '
            '--nproc_per_node=N, or drop --launcher')

    # The logger may predate the process group and so not know its rank.
    logger = MMLogger.get_current_instance()
    is_rank0 = os.environ.get('RANK', '0') == '0'
    backend = dist_cfg.get('backend', 'gloo')
    if backend != 'gloo' and is_rank0:
        logger.info(f"no GPU is available: using the 'gloo' process-group "
                    f"backend instead of '{backend}' from env_cfg.dist_cfg")

    kwargs: Dict[str, Any] = {}
    timeout = _timeout_of(dist_cfg)
    if timeout is not None:
        kwargs['timeout'] = timeout
    rank, world_size = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    restart = os.environ.get('TORCHELASTIC_RESTART_COUNT')
    if restart is None:
        torch_dist.init_process_group(backend='gloo', init_method='env://',
                                      rank=rank, world_size=world_size,
                                      **kwargs)
    else:
        # After torchrun restarts a group, its shared TCP store still contains
        # the keys of the failed attempt, and gloo's rendezvous can read the
        # old peers' addresses and fail or hang. A prefix per attempt keeps
        # each attempt's keys apart.
        # torch's own env:// rendezvous decides whether to reuse torchrun's
        # agent store or host one.
        store, rank, world_size = next(torch_dist.rendezvous(
            'env://', rank=rank, world_size=world_size,
            timeout=kwargs.get('timeout', default_pg_timeout)))
        torch_dist.init_process_group(
            backend='gloo', rank=rank, world_size=world_size,
            store=torch_dist.PrefixStore(f'vidft/attempt_{restart}', store),
            **kwargs)
    if is_rank0:
        logger.info('initialised the gloo process group with '
                    f'{torch_dist.get_world_size()} processes')


def cpu_model_wrapper_cfg(model_wrapper_cfg: Optional[Dict[str, Any]],
                          find_unused_parameters: bool) -> Dict[str, Any]:
    """Return a DDP wrapper config that works for a CPU model.

    ``device_ids`` must be None for a module on CPU; mmengine fills it with
    ``[LOCAL_RANK]`` unless the config sets it.
    """
    wrapper_cfg = dict(model_wrapper_cfg or {})
    wrapper_cfg.setdefault('type', 'MMDistributedDataParallel')
    wrapper_cfg.setdefault('broadcast_buffers', False)
    wrapper_cfg.setdefault('find_unused_parameters', find_unused_parameters)
    device_ids = wrapper_cfg.setdefault('device_ids', None)
    if device_ids is not None:
        raise ValueError('expected model_wrapper_cfg.device_ids=None for '
                         f'training on CPU, got {device_ids!r}; remove it '
                         'from the config or train on a GPU')
    return wrapper_cfg


def destroy_process_group(succeeded: bool = False) -> None:
    """Tear down the default process group if one exists.

    After a successful run, pass ``succeeded=True``: the ranks first meet at
    a barrier, so that none tears down its gloo connections while a peer
    still finishes its last hooks. A rank that tore down early could abort
    at exit ("terminate called without an active exception") and make
    torchrun report a finished run as failed. After a failure there is no
    barrier, because the failed peers would never reach it.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    if succeeded and torch_dist.get_world_size() > 1:
        torch_dist.barrier()
    torch_dist.destroy_process_group()
