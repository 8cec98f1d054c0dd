"""Build the camera-motion demo on first use, once per run.

Rank 0 renders the clips while the other ranks wait at a barrier, then every
rank reads the same summary. In a multi-node run the cache folder must be on
a file system that all nodes share, because only global rank 0 writes it.
"""
import logging
import os.path as osp
from typing import Any, Dict

from mmengine.dist import barrier, get_rank, get_world_size
from mmengine.logging import print_log

# Demo parameters already requested in this process, by cache folder.
_requested: Dict[str, Dict[str, Any]] = {}


def ensure_camera_motion_demo(cache_dir: str, split: str,
                              params: Dict[str, Any]) -> Dict[str, Any]:
    """Return the summary of the demo in ``cache_dir``, building it if needed.

    ``params`` are keyword arguments of
    :func:`vidft_recognition.demo.prepare_camera_motion_demo`.

    Raises:
        ValueError: another dataset in this process asked for the same
            folder with different parameters. The second build would delete
            the clips of the first, so the training and validation datasets
            must share one set of parameters.
    """
    # Imported here because the demo module imports this package's siblings.
    from vidft_recognition import demo

    key = osp.abspath(cache_dir)
    earlier = _requested.setdefault(key, dict(params))
    if earlier != params:
        raise ValueError(
            f'expected the same camera-motion demo parameters for every '
            f'dataset that uses {cache_dir}, got {earlier} and then '
            f'{params}; define them once in the config and pass them to the '
            'train and val datasets alike (to rebuild with new parameters, '
            'start a new process)')

    if get_rank() == 0:
        summary = demo.prepare_camera_motion_demo(cache_dir, **params)
    if get_world_size() > 1:
        barrier()
    if get_rank() != 0:
        if not demo.is_demo_prepared(cache_dir, **params):
            raise RuntimeError(
                f'rank {get_rank()} finds no finished camera-motion demo in '
                f'{cache_dir} after rank 0 prepared it; put cache_dir on a '
                'file system that every node shares')
        summary = demo.prepare_camera_motion_demo(cache_dir, **params)

    state = 'rendered' if summary['rebuilt'] else 'reused'
    print_log(
        f"camera-motion demo ({state}) in {summary['cache_dir']}, split "
        f"'{split}':\n{demo.format_summary(summary)}",
        logger='current', level=logging.INFO)
    return summary
