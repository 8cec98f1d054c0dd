"""Real broken videos through ``vidft data check`` and through the dataset
with both ``on_bad_sample`` policies, in the main process and in 2 data
loader workers."""
import os
import threading
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from torch.utils.data import DataLoader

from bad_videos import SHORT_FRAMES, make_bad_videos
from vidft.cli import main
from vidft.data.annotations import load_video_list
from vidft.data.check import check_video, check_videos
from vidft.data.datasets import BadSampleError, BaseVideoDataset
from vidft.data.hooks import BadSampleReportHook
from vidft.data.timeout import DecodeTimeoutError, decode_timeout

CLIP_LEN = 8

# Kind of file -> problem that `vidft data check --min-frames 8` reports.
EXPECTED = {
    'good': None,
    'good_avi': None,
    'avi_no_idx1': None,  # FFmpeg reads an AVI without idx1 in file order
    'gray': None,  # the reader converts to RGB
    'rgba': None,  # the reader drops alpha
    'missing': 'missing',
    'text': 'not a video',
    'truncated': 'truncated',
    'truncated_no_index': 'truncated',
    'no_moov': 'truncated',
    'zero_frames': 'no frames',
    'short': 'too short',
}

# Kinds that fail to load in the dataset (a short video is looped by
# SampleFrames, and the others decode).
FAILS_IN_DATASET = ('missing', 'text', 'truncated_no_index', 'no_moov',
                    'zero_frames')


@pytest.fixture(scope='module')
def videos(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    return make_bad_videos(str(tmp_path_factory.mktemp('bad_videos')))


@pytest.fixture(scope='module')
def video_list(videos: Dict[str, str], tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp('lists') / 'train.txt'
    path.write_text(''.join(f'{videos[kind]} {i % 3}\n'
                            for i, kind in enumerate(EXPECTED)))
    return str(path)


class ListDataset(BaseVideoDataset):
    """A dataset over an mmaction2 video list."""

    def load_data_list(self) -> List[dict]:
        return load_video_list(self.ann_file)


def _pipeline() -> list:
    return [
        dict(type='VideoInit'),
        dict(type='SampleFrames', clip_len=CLIP_LEN, frame_interval=1,
             num_clips=1),
        dict(type='VideoDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackVideoInputs'),
    ]


def _dataset(ann_file: str, **kwargs) -> ListDataset:
    return ListDataset(ann_file=ann_file, pipeline=_pipeline(), **kwargs)


# vidft data check

def test_check_table_and_exit_status(videos, video_list, tmp_path, capsys):
    clean = tmp_path / 'clean.txt'
    status = main(['data', 'check', video_list, '--workers', '2',
                   '--min-frames', str(CLIP_LEN), '--timeout', '20',
                   '--no-progress', '--write-clean', str(clean)])
    out = capsys.readouterr().out

    assert status == 2
    assert out.startswith('PROBLEM')
    for kind, problem in EXPECTED.items():
        if problem is None:
            assert videos[kind] not in out, kind
        else:
            line = next(l for l in out.splitlines() if videos[kind] in l)
            assert line.startswith(problem), (kind, line)
    assert f'{sum(p is None for p in EXPECTED.values())} of {len(EXPECTED)}' \
        in out


def test_check_empty_list_is_an_error(tmp_path, capsys):
    empty = tmp_path / 'empty_list.txt'
    empty.write_text('')
    assert main(['data', 'check', str(empty), '--no-progress']) == 1
    assert 'empty_list.txt lists no videos' in capsys.readouterr().err


def test_check_writes_clean_list(videos, video_list, tmp_path, capsys):
    clean = tmp_path / 'clean.txt'
    main(['data', 'check', video_list, '--workers', '1', '--min-frames',
          str(CLIP_LEN), '--no-progress', '--write-clean', str(clean)])
    capsys.readouterr()

    kept = load_video_list(str(clean))
    good = [videos[k] for k, problem in EXPECTED.items() if problem is None]
    assert [s['filename'] for s in kept] == good
    # Labels travel with their lines.
    original = {s['filename']: s['label'] for s in
                load_video_list(video_list)}
    assert all(s['label'] == original[s['filename']] for s in kept)
    assert main(['data', 'check', str(clean), '--workers', '2',
                 '--min-frames', str(CLIP_LEN), '--no-progress']) == 0


def test_check_class_folders_clean_csv(videos, tmp_path, capsys):
    from vidft_recognition.datasets import VideoDataset

    root = tmp_path / 'train'
    for name, label in (('good', 'walk'), ('text', 'run'), ('short', 'run')):
        (root / label).mkdir(parents=True, exist_ok=True)
        os.link(videos[name], root / label / f'{name}.mp4')
    clean = tmp_path / 'clean.csv'

    assert main(['data', 'check', str(root), '--write-clean',
                 str(tmp_path / 'clean.txt'), '--no-progress']) == 1
    assert 'name the file .csv' in capsys.readouterr().err
    status = main(['data', 'check', str(root), '--min-frames', '2',
                   '--workers', '1', '--no-progress', '--write-clean',
                   str(clean)])

    assert status == 2
    assert clean.read_text().splitlines() == [
        'path,label', f"{root / 'run' / 'short.mp4'},run",
        f"{root / 'walk' / 'good.mp4'},walk"]
    (tmp_path / 'classes.txt').write_text('walk\nrun\n')
    dataset = VideoDataset(str(clean), [], ann_format='csv',
                           label_map=str(tmp_path / 'classes.txt'))
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [1, 0]


def test_check_csv_keeps_format(videos, tmp_path, capsys):
    source = tmp_path / 'train.csv'
    source.write_text('path,label\n' f"{videos['good']},1\n"
                      f"{videos['text']},2\n" f"{videos['short']},0\n")
    clean = tmp_path / 'clean.csv'
    status = main(['data', 'check', str(source), '--min-frames', '2',
                   '--workers', '1', '--no-progress', '--write-clean',
                   str(clean)])
    capsys.readouterr()
    assert status == 2
    assert clean.read_text().splitlines() == [
        'path,label', f"{videos['good']},1", f"{videos['short']},0"]


def test_check_folder_clean(videos, tmp_path, capsys):
    folder = Path(videos['good']).parent
    status = main(['data', 'check', str(folder), '--workers', '2',
                   '--no-progress'])
    out = capsys.readouterr().out
    assert status == 2
    assert videos['zero_frames'] in out
    assert videos['good'] not in out


def test_check_min_frames_from_config(videos, tmp_path):
    from vidft.cli.data import sampler_needs
    config = tmp_path / 'cfg.py'
    config.write_text(
        "train_dataloader = dict(dataset=dict(type='RepeatDataset', times=2,"
        " dataset=dict(type='BaseVideoDataset', pipeline=["
        "dict(type='VideoInit', backend='opencv'),"
        "dict(type='SampleFrames', clip_len=4, frame_interval=3)])))\n")
    assert sampler_needs(str(config)) == (10, 'opencv')


def _write_check_config(path: Path, **loaders: dict) -> str:
    """Write a config whose data loaders contain the given dataset dicts and
    whose training pipeline samples one frame."""
    pipeline = [dict(type='VideoInit'), dict(type='SampleFrames', clip_len=1)]
    lines = [f'{key} = dict(dataset=dict(type=\'BaseVideoDataset\', '
             f'pipeline={pipeline!r}, **{dataset!r}))\n'
             for key, dataset in loaders.items()]
    path.write_text(''.join(lines))
    return str(path)


@pytest.fixture
def relative_list(videos, tmp_path) -> str:
    """A video list of good files, named relative to their folder."""
    path = tmp_path / 'val_list.txt'
    path.write_text(f"{Path(videos['good']).name} 0\n"
                    f"{Path(videos['good_avi']).name} 1\n")
    return str(path)


def test_check_prefix_from_matching_dataset(videos, relative_list, tmp_path,
                                            capsys):
    folder = str(Path(videos['good']).parent)
    config = _write_check_config(
        tmp_path / 'cfg.py',
        train_dataloader=dict(ann_file=str(tmp_path / 'train_list.txt'),
                              data_prefix=dict(video='elsewhere')),
        val_dataloader=dict(ann_file='val_list.txt', data_root=str(tmp_path),
                            data_prefix=dict(video=folder)))
    status = main(['data', 'check', relative_list, '--config', config,
                   '--workers', '1', '--no-progress'])
    out = capsys.readouterr().out
    assert status == 0
    assert '2 of 2 videos are usable' in out


def test_check_prefix_falls_back_to_train(videos, relative_list, tmp_path,
                                          capsys):
    folder = Path(videos['good']).parent
    config = _write_check_config(
        tmp_path / 'cfg.py',
        train_dataloader=dict(ann_file='other_list.txt',
                              data_root=str(folder.parent),
                              data_prefix=dict(video=folder.name)))
    status = main(['data', 'check', relative_list, '--config', config,
                   '--workers', '1', '--no-progress'])
    captured = capsys.readouterr()
    assert status == 0
    assert '2 of 2 videos are usable' in captured.out
    assert "joined to the training dataset's folder" in captured.err


def test_check_data_prefix_overrides_config(videos, relative_list, tmp_path,
                                            capsys):
    folder = str(Path(videos['good']).parent)
    config = _write_check_config(
        tmp_path / 'cfg.py',
        train_dataloader=dict(ann_file=relative_list,
                              data_prefix=dict(video=folder)))
    status = main(['data', 'check', relative_list, '--config', config,
                   '--data-prefix', str(tmp_path), '--workers', '1',
                   '--no-progress'])
    err = capsys.readouterr().err
    assert status == 2
    hints = [line for line in err.splitlines() if line.startswith('hint:')]
    assert len(hints) == 1
    assert 'all 2 videos are missing' in hints[0]
    assert f"first path tried was {tmp_path / Path(videos['good']).name}" \
        in hints[0]
    assert f'check that --data-prefix {tmp_path} is the folder' in hints[0]


def test_check_class_folder_ignores_config_prefix(videos, tmp_path, capsys):
    root = tmp_path / 'train'
    (root / 'good').mkdir(parents=True)
    os.link(videos['good'], root / 'good' / 'clip.mp4')
    config = _write_check_config(
        tmp_path / 'cfg.py',
        train_dataloader=dict(ann_file='elsewhere.txt',
                              data_prefix=dict(video='no_such_folder')))

    status = main(['data', 'check', str(root), '--config', config,
                   '--workers', '1', '--no-progress'])

    captured = capsys.readouterr()
    assert status == 0
    assert '1 of 1 videos are usable' in captured.out
    assert 'joined' not in captured.err


def test_dataset_video_folder_joins_root():
    from vidft.cli.data import dataset_video_folder
    cases = [
        (dict(data_root='root', data_prefix=dict(video='videos')),
         'root/videos'),
        (dict(data_root='root', data_prefix='/abs/videos'), '/abs/videos'),
        (dict(data_root='root'), 'root'),
        (dict(data_prefix=dict(video='videos')), 'videos'),
        (dict(), ''),
    ]
    for dataset, expected in cases:
        cfg = Config(dict(train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2,
            dataset=dict(ann_file='list.txt', **dataset)))))
        assert dataset_video_folder(cfg, 'other.txt') == expected, dataset


def test_check_channels_guard(videos):
    # The readers always return RGB, so only an expectation of another
    # channel count can trip the guard.
    assert check_video(videos['gray']).ok
    result = check_video(videos['rgba'], channels=4)
    assert result.problem == 'channels'
    assert '4 channels' in result.reason


def test_check_stalled_fifo_times_out(tmp_path):
    # A FIFO whose writer never writes blocks FFmpeg in read(); the alarm
    # (or, failing that, the hard kill) ends the check.
    fifo = str(tmp_path / 'stalled.mp4')
    os.mkfifo(fifo)
    writer_ready = threading.Event()

    def hold_open() -> None:
        with open(fifo, 'wb'):
            writer_ready.set()
            time.sleep(15)

    threading.Thread(target=hold_open, daemon=True).start()
    start = time.monotonic()
    results = check_videos([fifo], workers=1, timeout=1.0)
    elapsed = time.monotonic() - start
    assert results[0].problem == 'timed out'
    assert elapsed < 12


def test_check_kills_worker_ignoring_alarm(videos, tmp_path):
    # Spawned workers inherit the blocked SIGALRM, so the alarm never
    # reaches them and only the parent's hard kill ends the stalled file.
    import signal
    fifo = str(tmp_path / 'stalled.mp4')
    os.mkfifo(fifo)

    def hold_open() -> None:
        with open(fifo, 'wb'):
            time.sleep(20)

    threading.Thread(target=hold_open, daemon=True).start()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        start = time.monotonic()
        results = check_videos([fifo, videos['good']], workers=1,
                               timeout=0.5)
        elapsed = time.monotonic() - start
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    assert results[0].problem == 'timed out'
    assert 'worker was killed' in results[0].reason
    # The file after it ran in a new pool.
    assert results[1].ok
    assert elapsed < 15


def test_timeout_interrupts_blocking_open(tmp_path):
    # A FIFO without a writer blocks in open(); the alarm interrupts it.
    fifo = str(tmp_path / 'no_writer.mp4')
    os.mkfifo(fifo)
    start = time.monotonic()
    result = check_video(fifo, timeout=0.5)
    assert result.problem == 'timed out'
    assert time.monotonic() - start < 5


# Dataset policies

@pytest.mark.parametrize('kind', FAILS_IN_DATASET)
def test_raise_policy_names_file(videos, tmp_path, kind):
    ann = tmp_path / 'one.txt'
    ann.write_text(f'{videos[kind]} 0\n')
    dataset = _dataset(str(ann))
    with pytest.raises(BadSampleError) as info:
        dataset[0]
    assert info.value.source == videos[kind]
    assert "on_bad_sample='skip'" in str(info.value)


def test_short_video_is_looped_to_clip(videos, tmp_path):
    ann = tmp_path / 'short.txt'
    ann.write_text(f"{videos['short']} 0\n")
    inputs = _dataset(str(ann))[0]['inputs']
    assert inputs.shape == (1, 3, CLIP_LEN, 48, 64)
    assert SHORT_FRAMES < CLIP_LEN


def _check_batch_shapes(inputs: torch.Tensor, batch: int) -> None:
    assert inputs.shape == (batch, 1, 3, CLIP_LEN, 48, 64)
    assert inputs.dtype == torch.uint8


def test_skip_policy_main_process(video_list):
    dataset = _dataset(video_list, on_bad_sample='skip', max_bad_fraction=1)
    for index in range(len(dataset)):
        inputs = dataset[index]['inputs']
        assert inputs.shape == (1, 3, CLIP_LEN, 48, 64), index
        assert inputs.numel() > 0
    assert dataset.report_bad_samples() >= len(FAILS_IN_DATASET)
    assert len(dataset.bad_sample_indices()) == len(FAILS_IN_DATASET)
    assert dataset.report_bad_samples() == 0


def test_skip_policy_two_workers(video_list):
    dataset = _dataset(video_list, on_bad_sample='skip', max_bad_fraction=1)
    dataset.full_init()
    loader = DataLoader(dataset, batch_size=3, num_workers=2,
                        collate_fn=lambda samples: torch.stack(
                            [s['inputs'] for s in samples]))
    seen = 0
    for inputs in loader:
        _check_batch_shapes(inputs, inputs.shape[0])
        seen += inputs.shape[0]
    assert seen == len(EXPECTED)
    # Counts from the workers reach the main process through shared memory.
    assert len(dataset.bad_sample_indices()) == len(FAILS_IN_DATASET)
    assert dataset.report_bad_samples() >= len(FAILS_IN_DATASET)


def test_raise_policy_two_workers(video_list):
    dataset = _dataset(video_list)
    dataset.full_init()
    loader = DataLoader(dataset, batch_size=2, num_workers=2,
                        collate_fn=list)
    # NOTE: the worker's BadSampleError reaches the main process as a
    # RuntimeError, because PyTorch rebuilds an exception from its message
    # alone and BadSampleError takes (index, source, reason).
    with pytest.raises((BadSampleError, RuntimeError)) as info:
        for _ in loader:
            pass
    assert 'BadSampleError' in str(info.value)
    assert "on_bad_sample='skip'" in str(info.value)


def test_skip_policy_bad_fraction_limit(video_list):
    dataset = _dataset(video_list, on_bad_sample='skip',
                       max_bad_fraction=0.1)
    with pytest.raises(BadSampleError, match='max_bad_fraction'):
        for index in range(len(dataset)):
            dataset[index]


# Decode timeout

class StallOn:
    """A pipeline step that sleeps on one file, as a hung decode would."""

    def __init__(self, filename: str, seconds: float = 30) -> None:
        self.filename, self.seconds = filename, seconds

    def __call__(self, results: dict) -> dict:
        if results['filename'] == self.filename:
            time.sleep(self.seconds)
        return results


def _stalling_dataset(ann: str, stalled: str, **kwargs) -> ListDataset:
    return ListDataset(ann_file=ann, pipeline=[StallOn(stalled)] +
                       _pipeline(), **kwargs)


def test_decode_timeout_raise_policy(videos, tmp_path):
    ann = tmp_path / 'two.txt'
    ann.write_text(f"{videos['good']} 0\n{videos['good_avi']} 1\n")
    dataset = _stalling_dataset(str(ann), videos['good_avi'],
                                decode_timeout=0.5)
    assert dataset[0]['inputs'].shape == (1, 3, CLIP_LEN, 48, 64)
    start = time.monotonic()
    with pytest.raises(BadSampleError, match='timed out after 0.5 s'):
        dataset[1]
    assert time.monotonic() - start < 5


def test_decode_timeout_skip_two_workers(videos, tmp_path):
    ann = tmp_path / 'four.txt'
    names = ['good', 'good_avi', 'gray', 'short']
    ann.write_text(''.join(f'{videos[n]} 0\n' for n in names))
    dataset = _stalling_dataset(str(ann), videos['gray'], decode_timeout=0.5,
                                on_bad_sample='skip', max_bad_fraction=0.5)
    dataset.full_init()
    loader = DataLoader(dataset, batch_size=2, num_workers=2,
                        collate_fn=lambda samples: torch.stack(
                            [s['inputs'] for s in samples]))
    start = time.monotonic()
    batches = list(loader)
    assert time.monotonic() - start < 20
    assert sum(b.shape[0] for b in batches) == 4
    assert dataset.bad_sample_indices() == [2]


def test_decode_timeout_restores_outer_alarm():
    import signal
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.8)
        with decode_timeout(5, 'x.mp4'):
            pass
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 0.8
        time.sleep(1.0)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_decode_timeout_other_thread_not_enforced():
    outcome = []

    def body() -> None:
        with decode_timeout(0.1, 'x.mp4'):
            time.sleep(0.3)
        outcome.append('finished')

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert outcome == ['finished']


def test_decode_timeout_error_is_bad_sample():
    with pytest.raises(DecodeTimeoutError) as info:
        with decode_timeout(0.2, 'slow.mp4'):
            time.sleep(2)
    assert info.value.path == 'slow.mp4'


# Hook

def test_report_hook_logs_epoch_count(video_list):
    dataset = _dataset(video_list, on_bad_sample='skip', max_bad_fraction=1)
    for index in range(len(dataset)):
        dataset[index]

    class Runner:
        """The attributes of mmengine's Runner that the hook reads."""
        epoch = 1
        logger = MMLogger.get_instance('reliability_hook_test')
        message_hub = MessageHub.get_instance('reliability_hook_test')
        train_dataloader = DataLoader(dataset)

    hook = BadSampleReportHook()
    hook.after_train_epoch(Runner)
    count = Runner.message_hub.get_scalar('train/bad_samples').current()
    assert count >= len(FAILS_IN_DATASET)
    assert hook.totals['train'] == count
    hook.after_train_epoch(Runner)
    assert Runner.message_hub.get_scalar('train/bad_samples').current() == 0
    assert np.isfinite(count)


def test_check_rejects_invalid_input(tmp_path, capsys):
    bad_list = tmp_path / 'labels.txt'
    bad_list.write_text('a.mp4 not_a_label\n')
    assert main(['data', 'check', str(bad_list), '--no-progress']) == 1
    assert 'not_a_label' in capsys.readouterr().err
    assert main(['data', 'check', str(bad_list), '--workers', '0']) == 1
    assert '--workers >= 1' in capsys.readouterr().err
    assert main(['data', 'check', str(tmp_path / 'none.txt')]) == 1
    assert 'does not exist' in capsys.readouterr().err
