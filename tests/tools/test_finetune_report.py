"""tools/finetune_report.py: budget rewrite, table, and a two-strategy run."""
import importlib.util
import json
import os
import os.path as osp
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'finetune_report.py'


def load_tool():
    spec = importlib.util.spec_from_file_location('finetune_report_tool',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load_tool()


def fake_result(strategy, trainable_start, trainable_end, top1):
    return dict(strategy=strategy, trainable_start=trainable_start,
                trainable_end=trainable_end, total=1000, peak_mib=12.5,
                memory_kind='CPU peak RSS growth', seconds_per_iter=0.25,
                checkpoint_mib=0.5,
                metrics=[dict(iter=5, **{'acc/top1': top1 / 2}),
                         dict(iter=10, **{'acc/top1': top1})])


def test_set_budget_rewrites_loop_and_schedule():
    cfg = Config(dict(train_cfg=dict(type='EpochBasedTrainLoop',
                                     max_epochs=8),
                      default_hooks=dict(checkpoint=dict(
                          type='CheckpointHook', save_best='acc/top1'))))
    report.set_budget(cfg, 40, None)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=40,
                                 val_interval=8)
    warmup, cosine = cfg.param_scheduler
    assert warmup['end'] == cosine['begin'] == 4
    assert cosine['end'] == 40
    assert cfg.default_hooks.checkpoint.interval == 40
    assert 'save_best' not in cfg.default_hooks.checkpoint


def test_short_budget_still_warms_up():
    cfg = Config(dict(train_cfg=dict(type='EpochBasedTrainLoop',
                                     max_epochs=8)))
    report.set_budget(cfg, 6, 3)
    assert cfg.param_scheduler[0]['end'] == report.MIN_WARMUP_ITERS
    with pytest.raises(ValueError, match='max-iters'):
        report.set_budget(cfg, 2, None)


def test_peft_options_parse_literals():
    options = report.parse_peft_options(
        ['r=4', "target_types=('Conv2d',)", 'init_lora_weights=gaussian'])
    assert options == dict(r=4, target_types=('Conv2d',),
                           init_lora_weights='gaussian')
    with pytest.raises(ValueError, match='KEY=VALUE'):
        report.parse_peft_options(['r'])


def test_table_rows_and_metric_choice():
    results = [fake_result('full', 1000, 1000, 80.0),
               fake_result('unfreeze', 100, 1000, 70.0)]
    metric = report.choose_metric(results, None)
    assert metric == 'acc/top1'
    table = report.format_table(results, metric)
    lines = table.splitlines()
    assert len(lines) == 4
    assert lines[2].startswith('| full | 1,000 | 100.00 |')
    assert '| unfreeze | 100 → 1,000 |' in lines[3]
    assert lines[3].endswith('| 5: 35, 10: 70 | 70 |')
    with pytest.raises(ValueError, match='was not logged'):
        report.choose_metric(results, 'acc/top5')


TOY_MODULE = textwrap.dedent('''
    import torch
    from torch.utils.data import Dataset
    from vidft.registry import DATASETS
    from vidft.structures import VideoDataSample


    @DATASETS.register_module(force=True)
    class ReportToyClips(Dataset):
        """Noise clips whose brightness encodes one of 3 labels."""

        def __init__(self, length=12, seed=0):
            generator = torch.Generator().manual_seed(seed)
            self.labels = torch.arange(length) % 3
            noise = torch.randint(0, 100, (length, 2, 3, 32, 32),
                                  generator=generator)
            self.clips = (noise + 70 * self.labels.view(-1, 1, 1, 1, 1)
                          ).to(torch.uint8)

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, index):
            sample = VideoDataSample()
            sample.set_gt_label(int(self.labels[index]))
            return dict(inputs=self.clips[index], data_samples=sample)
''')


@pytest.mark.slow
@pytest.mark.parametrize('arguments, message', [
    (['--strategies', 'full', '--loraplus-lr-ratio', '4'],
     'applies to the lora strategy only'),
    (['--strategies', 'lora', '--loraplus-lr-ratio', '0'],
     'expected --loraplus-lr-ratio to be a finite number > 0'),
    (['--strategies', 'full', '--max-iters', '2'],
     'expected --max-iters > 2, got 2'),
    (['--strategies', 'full', '--max-iters', '10', '--val-interval', '0'],
     'expected --val-interval >= 1, got 0'),
])
def test_arguments_checked_before_training(tmp_path, arguments, message):
    config = REPO / 'configs' / 'recognition' / \
        'tsm_efficientnet-lite0_imagenet_9e_camera-motion_demo.py'
    with pytest.raises(SystemExit, match=message):
        report.main([str(config), '--work-dir', str(tmp_path), *arguments])
    assert not any(tmp_path.iterdir())


def test_two_strategies_end_to_end(tmp_path):
    import timm
    torch.manual_seed(3)
    weights = tmp_path / 'base.pth'
    torch.save(timm.create_model('test_efficientnet', num_classes=0)
               .state_dict(), weights)
    (tmp_path / 'report_toy_clips.py').write_text(TOY_MODULE)
    loader = dict(dataset=dict(type='ReportToyClips'), batch_size=4,
                  num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=True))
    cfg = dict(
        custom_imports=dict(imports=['report_toy_clips'],
                            allow_failed_imports=False),
        default_scope='vidft',
        model=dict(
            type='recognition.Recognizer2D',
            backbone=dict(type='TimmBackbone', model_name='test_efficientnet',
                          pretrained=str(weights)),
            cls_head=dict(type='ClsHead', num_classes=3),
            data_preprocessor=dict(type='VideoDataPreprocessor',
                                   mean=[127.0] * 3, std=[64.0] * 3,
                                   format_shape='NCHW')),
        train_dataloader=loader,
        val_dataloader=dict(loader, sampler=dict(type='DefaultSampler',
                                                 shuffle=False)),
        val_evaluator=dict(type='AccuracyMetric', topk=(1,)),
        val_cfg=dict(type='ValLoop'),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1),
        optim_wrapper=dict(constructor='VidftOptimWrapperConstructor',
                           optimizer=dict(type='SGD', lr=0.01)),
        randomness=dict(seed=0))
    config = tmp_path / 'toy_report.py'
    config.write_text(''.join(f'{k} = {v!r}\n' for k, v in cfg.items()))

    old_path = os.environ.get('PYTHONPATH', '')
    os.environ['PYTHONPATH'] = os.pathsep.join([str(tmp_path), str(REPO),
                                                old_path])
    try:
        status = report.main([str(config), '--strategies',
                              'full,linear_probe', '--max-iters', '4',
                              '--val-interval', '2', '--seed', '1',
                              '--work-dir', str(tmp_path / 'work'),
                              '--timeout', '240'])
    finally:
        os.environ['PYTHONPATH'] = old_path
    assert status == 0

    work = tmp_path / 'work'
    assert osp.getsize(work / 'finetune_report.png') > 1000
    table = (work / 'finetune_report.md').read_text()
    assert '| full |' in table and '| linear_probe |' in table
    results = json.loads((work / 'finetune_report.json').read_text())
    full, probe = results
    assert full['trainable_end'] == full['total']
    assert 0 < probe['trainable_end'] < full['trainable_end'] / 10
    for result in results:
        assert [m['iter'] for m in result['metrics']] == [2, 4]
        assert result['seconds_per_iter'] > 0
        assert result['peak_mib'] > 0
    # The probe's checkpoint holds only the head.
    assert probe['checkpoint_mib'] < full['checkpoint_mib']

    # --reuse rebuilds the report from the finished strategies, untrained.
    log_time = os.stat(work / 'full' / 'worker.log').st_mtime_ns
    (work / 'finetune_report.md').unlink()
    assert report.main([str(config), '--strategies', 'full,linear_probe',
                        '--work-dir', str(work), '--reuse']) == 0
    assert os.stat(work / 'full' / 'worker.log').st_mtime_ns == log_time
    rebuilt = (work / 'finetune_report.md').read_text()
    assert '| full |' in rebuilt
    assert '| linear_probe |' in rebuilt


def test_unfreeze_counts_iterations_of_budget(tmp_path):
    config = tmp_path / 'epochs.py'
    config.write_text(textwrap.dedent('''
        default_scope = 'vidft'
        model = dict(type='recognition.Recognizer2D',
                     backbone=dict(type='TimmBackbone',
                                   model_name='test_efficientnet'),
                     cls_head=dict(type='ClsHead', num_classes=3))
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8)
    '''))
    args = report.parse_args([str(config), '--max-iters', '40'])
    args.worker = 'unfreeze'
    cfg = report.worker_config(args)
    hook = cfg.custom_hooks[-1]
    assert hook['type'] == 'UnfreezeHook'
    assert hook['by_epoch'] is False
    assert hook['unfreeze_at'] == 10

    args.worker = 'lora'
    args.peft = ['r=2']
    cfg = report.worker_config(args)
    assert cfg.model.type == 'PeftModel'
    assert cfg.model.peft['r'] == 2


def test_timeout_names_strategy_and_log(tmp_path):
    # The worker cannot even import torch in 10 ms.
    config = REPO / 'configs' / 'recognition' / (
        'tsm_efficientnet-lite0_imagenet_9e_camera-motion_demo.py')
    with pytest.raises(SystemExit) as info:
        report.main([str(config), '--strategies', 'full', '--timeout', '0.01',
                     '--work-dir', str(tmp_path)])
    message = str(info.value)
    assert message.startswith('strategy full ran past --timeout 0.01 s')
    assert str(tmp_path / 'full' / 'worker.log') in message
