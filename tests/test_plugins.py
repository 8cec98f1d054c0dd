"""Plugin discovery, lazy loading, broken and disabled plugins, the CLI.

Most tests use fake distributions from the ``fake_plugins`` fixture
(conftest.py). The last test builds and pip-installs a real third-party
plugin package, ``tests/fixtures/third_party_plugin``, and trains with it.
"""
import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vidft import plugins
from vidft.cli import main
from vidft.config import load_config
from vidft.registry import DATA_SAMPLERS, FUNCTIONS, count_components

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RUNTIME = REPO / 'configs' / '_base_' / 'default_runtime.py'
TOY_PACKAGE = (Path(__file__).resolve().parent / 'fixtures' /
               'third_party_plugin')

GOOD_PLUGIN = '''
    from vidft.registry import scoped_registries

    registries = scoped_registries('okplug')

    @registries.FUNCTIONS.register_module()
    def halve(x):
        return x / 2

    @registries.DATA_SAMPLERS.register_module()
    class EveryOtherSampler:
        pass
'''

# Registers one component, then fails: the component must not survive.
BROKEN_PLUGIN = '''
    from vidft.registry import scoped_registries

    registries = scoped_registries('broken')

    @registries.FUNCTIONS.register_module()
    def half_done(x):
        return x

    raise RuntimeError('calibration table missing')
'''


def _rows(output: str) -> dict:
    """Map plugin name to the cells of its row in the `vidft plugins` table."""
    rows = {}
    for line in output.splitlines()[1:]:
        if line and not line.startswith(' '):
            cells = line.split(None, 4)
            rows[cells[0]] = cells
    return rows


def _write_config(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_discover_reads_metadata_without_import(fake_plugins):
    module = fake_plugins.add('okplug', GOOD_PLUGIN, version='2.5.0',
                              distribution='okplug-dist')

    info = plugins.discover()['okplug']

    assert info.module == module
    assert info.distribution == 'okplug-dist'
    assert info.version == '2.5.0'
    assert info.status == 'not loaded'
    assert module not in sys.modules


def test_import_vidft_loads_no_plugin(fake_plugins):
    fake = fake_plugins.add('okplug', GOOD_PLUGIN)
    plugin_modules = [info.module for info in plugins.discover().values()]
    assert fake in plugin_modules
    code = ('import json, sys, vidft; '
            'print(json.dumps(sorted(sys.modules)))')

    result = subprocess.run([sys.executable, '-c', code],
                            env=fake_plugins.environ(), capture_output=True,
                            text=True, timeout=60, check=True)

    imported = set(json.loads(result.stdout))
    for module in plugin_modules:
        assert module not in imported
    heavy = {'torch', 'torchvision', 'timm', 'cv2', 'av', 'numpy',
             'mmengine', 'mmengine.runner', 'vidft.registry', 'vidft.plugins'}
    assert heavy.isdisjoint(imported), heavy & imported


def test_cli_reports_broken_plugin(fake_plugins, capsys):
    fake_plugins.add('okplug', GOOD_PLUGIN, version='2.5.0')
    fake_plugins.add('broken', BROKEN_PLUGIN, version='0.0.1')

    status = main(['plugins'])

    output = capsys.readouterr().out
    rows = _rows(output)
    assert status == 1
    assert rows['broken'][1:4] == ['0.0.1', 'vidft-fake-broken', 'failed']
    assert 'error: RuntimeError: calibration table missing' in output
    assert 'Traceback' not in output
    assert rows['okplug'][1:4] == ['2.5.0', 'vidft-fake-okplug', 'loaded']
    assert rows['okplug'][4] == 'data sampler=1, function=1'
    assert FUNCTIONS.get('okplug.halve')(8) == 4


def test_cli_verbose_prints_traceback(fake_plugins, capsys):
    module = fake_plugins.add('broken', BROKEN_PLUGIN)

    status = main(['plugins', '--verbose'])

    output = capsys.readouterr().out
    assert status == 1
    assert f'module: {module}' in output
    assert 'Traceback (most recent call last)' in output
    assert f'{module}.py' in output


def test_broken_plugin_leaves_no_components(fake_plugins):
    fake_plugins.add('broken', BROKEN_PLUGIN)

    with pytest.raises(plugins.PluginError) as info:
        plugins.load_plugin('broken')

    assert info.value.plugin == 'broken'
    assert 'calibration table missing' in str(info.value)
    assert 'broken' not in FUNCTIONS.children
    assert count_components('broken') == {}
    with pytest.raises(plugins.PluginError, match='calibration table'):
        FUNCTIONS.get('broken.half_done')


def test_config_naming_broken_plugin_fails(fake_plugins, tmp_path):
    fake_plugins.add('broken', BROKEN_PLUGIN)
    fake_plugins.add('okplug', GOOD_PLUGIN)
    path = _write_config(tmp_path / 'uses_broken.py', '''
default_scope = 'vidft'
custom_hooks = [dict(type='broken.SomeHook')]
''')

    with pytest.raises(plugins.PluginError) as info:
        load_config(path)

    assert info.value.plugin == 'broken'
    assert 'RuntimeError: calibration table missing' in str(info.value)
    assert plugins.discover()['okplug'].status == 'not loaded'


def test_config_loads_only_named_plugins(fake_plugins, tmp_path):
    fake_plugins.add('okplug', GOOD_PLUGIN)
    fake_plugins.add('broken', BROKEN_PLUGIN)
    path = _write_config(tmp_path / 'uses_okplug.py', '''
default_scope = 'vidft'
train_dataloader = dict(sampler=dict(type='okplug.EveryOtherSampler'))
''')

    load_config(path)

    assert plugins.discover()['okplug'].status == 'loaded'
    assert plugins.discover()['broken'].status == 'not loaded'
    assert DATA_SAMPLERS.get('okplug.EveryOtherSampler').__name__ == \
        'EveryOtherSampler'


def test_disabled_plugin_is_not_imported(fake_plugins, tmp_path, capsys):
    module = fake_plugins.add('okplug', GOOD_PLUGIN)
    fake_plugins.disable('okplug')
    path = _write_config(tmp_path / 'uses_okplug.py', '''
default_scope = 'okplug'
''')

    status = main(['plugins'])
    rows = _rows(capsys.readouterr().out)
    with pytest.raises(plugins.PluginError) as info:
        load_config(path)

    assert status == 0
    assert rows['okplug'][3] == 'disabled'
    assert rows['okplug'][4] == '-'
    assert plugins.DISABLE_ENV in str(info.value)
    assert module not in sys.modules


def test_same_name_from_two_distributions_fails(fake_plugins, capsys):
    fake_plugins.add('twin', 'VALUE = 1\n', distribution='twin-one')
    fake_plugins.add('twin', 'VALUE = 2\n', distribution='twin-two')

    status = main(['plugins'])

    output = capsys.readouterr().out
    assert status == 1
    assert _rows(output)['twin'][3] == 'failed'
    assert 'twin-one' in output and 'twin-two' in output


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'pip', *args],
                          capture_output=True, text=True, timeout=300)


def _scalars(work_dir: Path) -> list:
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.slow
def test_third_party_plugin_installs_and_trains(fake_plugins, tmp_path):
    source = tmp_path / 'toyplugin'
    shutil.copytree(TOY_PACKAGE, source)
    installed = _pip('install', '--no-deps', '--no-build-isolation',
                     '--quiet', str(source))
    assert installed.returncode == 0, installed.stderr
    try:
        # The plugin table, from a fresh interpreter.
        listing = subprocess.run(
            [sys.executable, '-c', 'import sys; from vidft.cli import main; '
             "sys.exit(main(['plugins']))"],
            capture_output=True, text=True, timeout=120)
        assert listing.returncode == 0, listing.stdout + listing.stderr
        toy = _rows(listing.stdout)['toy']
        assert toy[1:4] == ['0.3.1', 'vidft-toyplugin', 'loaded']
        assert toy[4] == 'backbone=1, dataset=1, model=1'

        # Training in this process with the plugin's backbone and dataset.
        fake_plugins.rediscover()
        assert plugins.discover()['toy'].status == 'not loaded'
        config = _write_config(tmp_path / 'toy_train.py', f'''
_base_ = [{str(DEFAULT_RUNTIME)!r}]
model = dict(
    type='toy.ToyClassifier',
    backbone=dict(type='toy.TinyConvNet', channels=8),
    num_classes=2)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='toy.SyntheticStripes', num_samples=64, clip_len=4,
                 size=16))
train_cfg = dict(by_epoch=False, max_iters=25)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=0.01))
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=25, by_epoch=False, save_best=None))
log_processor = dict(by_epoch=False, window_size=1)
randomness = dict(seed=0)
''')
        cfg = load_config(config)
        assert plugins.discover()['toy'].status == 'loaded'

        from vidft.engine import build_runner
        work_dir = tmp_path / 'work'
        runner = build_runner(cfg, work_dir=str(work_dir))
        runner.train()

        losses = [entry['loss'] for entry in _scalars(work_dir)
                  if 'loss' in entry]
        assert len(losses) == 25
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        assert last < 0.5 * first, losses
        assert type(runner.model.backbone).__module__ == \
            'vidft_toyplugin.models'
        assert (work_dir / 'iter_25.pth').is_file()
    finally:
        removed = _pip('uninstall', '--yes', '--quiet', 'vidft-toyplugin')
        for name in list(sys.modules):
            if name.startswith('vidft_toyplugin'):
                del sys.modules[name]
        from vidft.registry import drop_scope
        drop_scope('toy')
        importlib.invalidate_caches()
    assert removed.returncode == 0, removed.stderr
