"""``vidft train`` / ``vidft test`` and the option parsing they share with
tools/train.py and tools/test.py."""
import argparse
import os
import pickle
import textwrap
from pathlib import Path

import pytest
import torch

import engine_toy  # noqa: F401  registers the toy components
from vidft.cli import main
from vidft.cli import test as test_command
from vidft.cli import train as train_command

CONFIG = textwrap.dedent("""
    custom_imports = dict(imports=['engine_toy'], allow_failed_imports=False)
    default_scope = 'vidft'
    model = dict(type='EngineToyNet')
    train_dataloader = dict(
        dataset=dict(type='EngineToyDataset', length=8),
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        batch_size=2,
        num_workers=0)
    test_dataloader = dict(
        dataset=dict(type='EngineToyDataset', length=6, seed=1),
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        batch_size=3,
        num_workers=0)
    train_cfg = dict(type='IterBasedTrainLoop', max_iters=8)
    test_cfg = dict(type='TestLoop')
    test_evaluator = dict(type='EngineToyAccuracy')
    optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.05))
    default_hooks = dict(
        checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2))
    log_processor = dict(by_epoch=False)
    log_level = 'WARNING'
""")


def _parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize('argv, expected', [
    (['cfg.py'], None),
    (['cfg.py', '--resume'], 'auto'),
    (['cfg.py', '--resume', 'auto'], 'auto'),
    (['cfg.py', '--resume', 'work/iter_4.pth'], 'work/iter_4.pth'),
])
def test_train_resume_option(argv, expected) -> None:
    assert _parse(train_command, argv).resume == expected


def test_train_options_parse() -> None:
    args = _parse(train_command, [
        'cfg.py', '--work-dir', 'out', '--amp', '--seed', '3',
        '--deterministic', '--launcher', 'slurm', '--cfg-options',
        'train_cfg.max_iters=2', 'optim_wrapper.optimizer.lr=0.1'])

    assert (args.work_dir, args.amp, args.seed, args.deterministic) == (
        'out', True, 3, True)
    assert args.launcher == 'slurm'
    assert args.cfg_options == ['train_cfg.max_iters=2',
                                'optim_wrapper.optimizer.lr=0.1']
    with pytest.raises(SystemExit):
        _parse(train_command, ['cfg.py', '--launcher', 'mpi'])


def test_dump_metric_appended() -> None:
    from mmengine.config import Config

    cfg = Config(dict(test_evaluator=dict(type='EngineToyAccuracy')))
    test_command.add_dump_metric(cfg, 'out/predictions.pkl')
    assert [m['type'] for m in cfg.test_evaluator] == [
        'EngineToyAccuracy', 'DumpResults']
    with pytest.raises(ValueError, match='.pkl'):
        test_command.add_dump_metric(cfg, 'predictions.json')


def test_train_then_test_end_to_end(tmp_path: Path) -> None:
    config = tmp_path / 'toy_cli.py'
    config.write_text(CONFIG)
    work_dir = tmp_path / 'work'

    status = main(['train', str(config), '--work-dir', str(work_dir),
                   '--cfg-options', 'train_cfg.max_iters=4', '--seed', '7'])
    assert status == 0
    checkpoint = work_dir / 'iter_4.pth'
    assert checkpoint.is_file()

    dump = tmp_path / 'predictions.pkl'
    status = main(['test', str(config), str(checkpoint), '--work-dir',
                   str(tmp_path / 'test_work'), '--dump', str(dump)])
    assert status == 0
    with open(dump, 'rb') as file:
        predictions = pickle.load(file)  # written by this test just above
    assert len(predictions) == 6
    assert {'pred', 'label'} <= set(predictions[0])


def test_test_without_train_split(tmp_path: Path) -> None:
    # Only the test split exists, and one of its samples fails to load, so
    # BadSampleReportHook reports at the end of the test epoch.
    missing = tmp_path / 'data' / 'train_list.json'
    config = tmp_path / 'toy_cli.py'
    config.write_text(CONFIG.replace(
        "dataset=dict(type='EngineToyDataset', length=8)",
        f"dataset=dict(type='BaseVideoDataset', ann_file='{missing}')"
    ).replace(
        "dataset=dict(type='EngineToyDataset', length=6, seed=1)",
        "dataset=dict(type='EngineToyBadSampleDataset', length=6, seed=1, "
        "failed_loads=[2])"))
    dump = tmp_path / 'predictions.pkl'

    work_dir = tmp_path / 'work'

    status = main(['test', str(config), '--work-dir', str(work_dir),
                   '--dump', str(dump), '--cfg-options', 'log_level=INFO'])
    assert status == 0
    assert dump.is_file()
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'test: 1 sample loads failed' in log


def test_test_command_rejects_code_in_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / 'toy_cli.py'
    config.write_text(CONFIG)
    marker = tmp_path / 'code_ran'

    class RunsShellCommand:

        def __reduce__(self):
            return (os.system, (f'touch {marker}', ))

    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': RunsShellCommand()}, evil)

    status = main(['test', str(config), str(evil), '--work-dir',
                   str(tmp_path / 'work')])
    assert status == 1
    message = capsys.readouterr().err
    assert 'cannot load checkpoint' in message
    assert 'evil.pth' in message
    assert not marker.exists()


@pytest.mark.parametrize('extra, message', [
    (['--out', 'out.gif'], "expected --out to end in one of"),
    (['--out', 'clip.mp4'], 'is the input video'),
    (['--out', 'missing_folder/out.mp4'], 'does not exist; create'),
])
def test_infer_checks_output_before_running(tmp_path, capsys, monkeypatch,
                                            extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'clip.mp4').write_bytes(b'not decoded before the checks')
    status = main(['infer', 'no_such_config.py', 'model.pth', 'clip.mp4',
                   *extra])
    assert status == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize('link', [os.symlink, os.link])
def test_infer_rejects_link_to_input(tmp_path, capsys, link):
    # Writing through a link would truncate the input while it is decoded.
    clip = tmp_path / 'clip.mp4'
    clip.write_bytes(b'the input video')
    out = tmp_path / 'out.mp4'
    link(clip, out)
    status = main(['infer', 'no_such_config.py', 'model.pth', str(clip),
                   '--out', str(out)])
    assert status == 1
    assert 'is the input video' in capsys.readouterr().err
    assert clip.read_bytes() == b'the input video'


def test_infer_missing_input_is_named(tmp_path, capsys):
    missing = tmp_path / 'missing.mp4'
    assert main(['infer', 'no_such_config.py', 'model.pth',
                 str(missing)]) == 1
    assert f'input {missing} does not exist' in capsys.readouterr().err


def test_infer_cuda_without_gpu_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    clip = tmp_path / 'clip.mp4'
    clip.write_bytes(b'x')
    assert main(['infer', 'no_such_config.py', 'model.pth', str(clip),
                 '--device', 'cuda']) == 1
    assert 'use --device cpu' in capsys.readouterr().err


def test_ctrl_c_ends_with_status_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(test_command, 'run', interrupted)
    assert main(['test', 'cfg.py', 'model.pth']) == 130
    err = capsys.readouterr().err
    assert err == 'vidft test: interrupted\n'


def test_warning_never_lands_inside_progress_bar(capsys):
    import logging
    import sys

    from tqdm import tqdm

    from vidft.cli import _configure_logging

    _configure_logging('WARNING')
    bar = tqdm(total=4, file=sys.stderr, mininterval=0)
    bar.update(2)
    logging.getLogger('vidft.test').warning('clip.mp4 is damaged')
    bar.update(2)
    bar.close()
    lines = capsys.readouterr().err.replace('\r', '\n').splitlines()
    assert 'WARNING vidft.test: clip.mp4 is damaged' in lines


def test_plugin_logs_reach_stderr(capsys):
    import logging

    from vidft.cli import _configure_logging

    _configure_logging('INFO')
    logging.getLogger('vidft_vsr.inference').info('upscaling clip.mp4')

    assert 'INFO vidft_vsr.inference: upscaling clip.mp4' in \
        capsys.readouterr().err


def test_sigterm_escapes_broad_except():
    from vidft.cli.infer import _Terminated

    with pytest.raises(_Terminated):
        try:
            raise _Terminated()
        except Exception:  # noqa: BLE001 as a logging handler does
            pass


def test_infer_sigterm_leaves_no_partial_video(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    from vidft.data.video import VideoWriter

    config = os.path.join(os.path.dirname(__file__), '..', '..', 'configs',
                          'vsr', 'bicubic_x4_skvideo_demo.py')
    source = tmp_path / 'clip.mp4'
    # 400 frames of noise: upscaling them takes long enough to be stopped.
    rng = np.random.default_rng(0)
    with VideoWriter(str(source), 25) as writer:
        for _ in range(400):
            writer.write(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    out = str(tmp_path / 'out.mp4')
    process = subprocess.Popen(
        [sys.executable, '-m', 'vidft', 'infer', config, 'none', str(source),
         '--out', out], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # The partial file appears before the first frame is computed.
    while len(os.listdir(tmp_path)) < 2 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert err.splitlines()[-1] == 'vidft infer: terminated'
    assert sorted(os.listdir(tmp_path)) == ['clip.mp4']
