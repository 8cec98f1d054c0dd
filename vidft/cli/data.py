"""Check the videos of a dataset before training on them.

``vidft data check ANNOTATION_OR_FOLDER`` decodes every listed video in a
process pool and prints a table of the bad ones with the reason (missing,
unreadable, not a video, truncated, no frames, too short, channels, timed
out). The exit status is 0 when every file is usable and 2 when any is bad.
``--write-clean PATH`` writes the annotation file without the bad samples,
in the same format. ``--config CONFIG`` takes the frames a video needs,
the reader backend and, unless ``--data-prefix`` is given, the video folder
of the config's dataset.
"""
import argparse
import logging
import os
import os.path as osp
import sys
from typing import Any, Iterable, List, Optional, Tuple, Union

from mmengine.config import Config

from ..data.check import (ANNOTATION_FORMATS, PROBLEMS, VideoCheck,
                          check_videos, in_class_folders, load_video_source,
                          write_clean_annotation)

logger = logging.getLogger(__name__)

#: Exit status when some files are bad (1 is a usage or input error).
EXIT_BAD_FILES = 2

#: Data loaders whose datasets ``--config`` matches against the source.
DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest='action', metavar='ACTION')
    actions.required = True
    check = actions.add_parser(
        'check', help='decode every video and list the bad ones',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument(
        'source', metavar='ANNOTATION_OR_FOLDER',
        help='annotation file (mmaction2 video list, path,label CSV or '
        'Kinetics CSV) or a folder searched for video files')
    check.add_argument(
        '--format', default='auto', choices=('auto', ) + ANNOTATION_FORMATS,
        help='format of the source (default: guessed from it)')
    check.add_argument('--data-prefix', default=None, metavar='DIR',
                       help='folder joined to the file names of an '
                       'annotation file (default: with --config, the video '
                       "folder of the config's dataset, else none)")
    check.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                       metavar='N', help='decoding processes (default: the '
                       'CPU count)')
    frames = check.add_mutually_exclusive_group()
    frames.add_argument('--min-frames', type=int, default=None, metavar='N',
                        help='frames a video needs (default: 1)')
    frames.add_argument(
        '--config', metavar='CONFIG',
        help="take --min-frames from the training pipeline's SampleFrames "
        '(clip_len * frame_interval), the backend from its VideoInit, and '
        '--data-prefix from data_root and data_prefix of the dataset whose '
        'ann_file is the source (else the training dataset)')
    check.add_argument('--channels', type=int, default=3, metavar='C',
                       help='channels decoded frames must have (default: 3)')
    check.add_argument('--backend', default=None,
                       choices=('pyav', 'opencv', 'decord'),
                       help='reader backend (default: pyav, or the '
                       "config's)")
    check.add_argument('--timeout', type=float, default=None, metavar='S',
                       help='seconds one file may take before it counts as '
                       'timed out (default: no limit)')
    check.add_argument('--write-clean', metavar='PATH',
                       help='write the source without the bad samples to '
                       'PATH, in the same format; a folder of class folders '
                       'becomes a CSV of path and class name (PATH must end '
                       'in .csv)')
    check.add_argument('--no-progress', action='store_true',
                       help='do not show the progress bar')


def run(args: argparse.Namespace) -> int:
    try:
        return _check(args)
    except ValueError as error:  # invalid options or annotation files
        print(f'vidft data check: error: {error}', file=sys.stderr)
        return 1


def _check(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ValueError(f'expected --workers >= 1, got {args.workers}')
    if args.timeout is not None and args.timeout <= 0:
        raise ValueError(f'expected --timeout > 0 seconds, got '
                         f'{args.timeout}')
    min_frames, backend = args.min_frames or 1, args.backend or 'pyav'
    data_prefix = args.data_prefix
    if args.config:
        from ..config import load_config
        cfg = load_config(args.config)
        min_frames, config_backend = sampler_needs(cfg)
        backend = args.backend or config_backend
        # A folder source lists whole paths, so no prefix is joined to them.
        if data_prefix is None and not osp.isdir(args.source):
            data_prefix = dataset_video_folder(cfg, args.source)
    if min_frames < 1:
        raise ValueError(f'expected --min-frames >= 1, got {min_frames}')

    fmt, samples = load_video_source(args.source, args.format,
                                     data_prefix or '')
    paths = [sample['filename'] for sample in samples]
    if not paths:
        raise ValueError(f'{args.source} lists no videos, so there is '
                         'nothing to check; point it at a non-empty '
                         'annotation file or folder')
    if (args.write_clean and fmt == 'folder'
            and in_class_folders(paths, args.source)
            and not args.write_clean.lower().endswith('.csv')):
        raise ValueError(
            f'{args.source} is a folder of class folders, which --write-clean '
            'writes as a CSV of path and class name; name the file .csv, '
            f'e.g. --write-clean {osp.splitext(args.write_clean)[0]}.csv')
    results = check_videos(
        paths, workers=args.workers, min_frames=min_frames,
        channels=args.channels, backend=backend, timeout=args.timeout,
        progress=_progress_bar(len(paths), args.no_progress))

    bad = [result for result in results if not result.ok]
    print(format_table(bad) if bad else 'no bad files')
    print(f'{len(results) - len(bad)} of {len(results)} videos are usable '
          f'(min_frames={min_frames}, backend={backend})')
    if all(result.problem == 'missing' for result in results):
        # When no path exists, the folder is more likely wrong than the files.
        fix = (f'check that --data-prefix {args.data_prefix} is' if
               args.data_prefix is not None else 'pass --data-prefix DIR with')
        print(f'hint: all {len(results)} videos are missing, the first path '
              f'tried was {paths[0]}; {fix} the folder that the paths in '
              f'{args.source} are relative to', file=sys.stderr)
    if args.write_clean:
        written = write_clean_annotation(args.source, fmt,
                                         [r.ok for r in results],
                                         args.write_clean)
        print(f'wrote {written} samples to {args.write_clean}')
    return EXIT_BAD_FILES if bad else 0


def _progress_bar(total: int, disabled: bool) -> Any:
    from tqdm import tqdm
    bar = tqdm(total=total, unit='video', disable=disabled or None,
               file=sys.stderr, desc='checking')

    def advance(result: VideoCheck) -> None:
        bar.update(1)
        if bar.n == total:
            bar.close()
    return advance


def format_table(results: Iterable[VideoCheck]) -> str:
    """Return the bad files as a plain-text table: problem, frames, file,
    reason."""
    rows = [('PROBLEM', 'FRAMES', 'FILE', 'REASON')]
    rows += [(r.problem or 'ok', str(r.num_frames) if r.num_frames >= 0
              else '-', r.path, r.reason) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return '\n'.join(
        '  '.join(cell.ljust(width) for cell, width in zip(row, widths))
        + '  ' + row[3] for row in rows)


def sampler_needs(config: Union[str, Config]) -> Tuple[int, str]:
    """Return ``((clip_len - 1) * frame_interval + 1, backend)`` of the
    training pipeline in ``config``, a config file or a loaded config: the
    frames a clip covers, which a video needs to be sampled without
    repeating frames.

    Raises:
        ValueError: the train pipeline has no SampleFrames.
    """
    if isinstance(config, str):
        from ..config import load_config
        cfg = load_config(config)
    else:
        cfg = config
    pipeline = _train_pipeline(cfg.get('train_dataloader') or {})
    sampler = _find_transform(pipeline, 'SampleFrames')
    if sampler is None:
        raise ValueError(f'expected a SampleFrames transform in the train '
                         f'pipeline of {cfg.filename or "the config"}, got '
                         'none; pass --min-frames instead')
    needed = (int(sampler.get('clip_len', 1)) - 1) * int(
        sampler.get('frame_interval', 1)) + 1
    init = _find_transform(pipeline, 'VideoInit') or {}
    return needed, str(init.get('backend', 'pyav'))


def dataset_video_folder(cfg: Config, source: str) -> str:
    """Return the folder that the dataset of ``source`` in ``cfg`` joins to
    its video paths, or '' when it joins none.

    The dataset is the one of the train, val and test data loaders whose
    ``ann_file`` is ``source``, else the training dataset. As mmengine's
    BaseDataset does, a relative ``ann_file`` or ``data_prefix`` is taken
    to be under ``data_root``.
    """
    datasets = {key: _leaf_datasets((cfg.get(key) or {}).get('dataset'))
                for key in DATALOADER_KEYS}
    target = osp.realpath(source)
    for key, found in datasets.items():
        for dataset in found:
            ann_file = dataset.get('ann_file')
            if isinstance(ann_file, str) and osp.realpath(
                    _under_root(dataset, ann_file)) == target:
                folder = _video_prefix(dataset)
                logger.info('%s is the ann_file of a dataset of %s, so its '
                            "video paths are joined to '%s'", source, key,
                            folder)
                return folder

    train = datasets['train_dataloader']
    folder = _video_prefix(train[0]) if train else ''
    if folder:
        logger.warning(
            "%s is the ann_file of no dataset in %s, so its video paths are "
            "joined to the training dataset's folder '%s'; pass "
            '--data-prefix DIR if they are relative to another folder',
            source, cfg.filename or 'the config', folder)
    return folder


def _leaf_datasets(dataset: Any) -> List[dict]:
    """Return the datasets with an ``ann_file`` in ``dataset``, looking
    inside wrappers (``dataset`` of RepeatDataset, ``datasets`` of
    ConcatDataset)."""
    if not isinstance(dataset, dict):
        return []
    if 'ann_file' in dataset:
        return [dataset]
    found = _leaf_datasets(dataset.get('dataset'))
    for child in dataset.get('datasets') or []:
        found += _leaf_datasets(child)
    return found


def _under_root(dataset: dict, path: str) -> str:
    root = dataset.get('data_root') or ''
    return osp.join(root, path) if root and not osp.isabs(path) else path


def _video_prefix(dataset: dict) -> str:
    prefix = dataset.get('data_prefix') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('video') or ''
    if not isinstance(prefix, str):
        return ''
    if not prefix:
        return dataset.get('data_root') or ''
    return _under_root(dataset, prefix)


def _train_pipeline(dataloader: Any) -> List[Any]:
    dataset = dataloader.get('dataset') or {}
    # Dataset wrappers (RepeatDataset, ClassBalancedDataset) nest the real one.
    while 'pipeline' not in dataset and isinstance(dataset.get('dataset'),
                                                   dict):
        dataset = dataset['dataset']
    return list(dataset.get('pipeline') or [])


def _find_transform(pipeline: List[Any], name: str) -> Optional[dict]:
    for transform in pipeline:
        kind = transform.get('type') if isinstance(transform, dict) else None
        kind_name = kind if isinstance(kind, str) else getattr(
            kind, '__name__', '')
        if kind_name.rsplit('.', 1)[-1] == name:
            return transform
    return None


__all__ = ['EXIT_BAD_FILES', 'PROBLEMS', 'add_arguments',
           'dataset_video_folder', 'format_table', 'run', 'sampler_needs']
