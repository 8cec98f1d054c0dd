"""`vidft config show` and the `vidft` command dispatcher."""
import json
import subprocess
import sys
import textwrap

import pytest
from mmengine.config import Config

from vidft import cli
from vidft.cli import main

BASE = '''
default_scope = 'vidft'
model = dict(type='recognition.Recognizer2D', cls_head=dict(num_classes=400))
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=5)
'''

CHILD = '''
_base_ = ['./base.py']
model = dict(cls_head=dict(num_classes=10))
train_pipeline = [dict(type='VideoDecode')]
'''


@pytest.fixture
def child(tmp_path) -> str:
    (tmp_path / 'base.py').write_text(BASE)
    path = tmp_path / 'child.py'
    path.write_text(CHILD)
    return str(path)


def test_config_show_prints_merged_config(child, tmp_path, capsys):
    status = main(['config', 'show', child, '--cfg-options',
                   'train_cfg.max_epochs=7', 'randomness.seed=0'])

    captured = capsys.readouterr()
    assert status == 0
    assert captured.err == ''
    printed = tmp_path / 'printed.py'
    printed.write_text(captured.out)
    reloaded = Config.fromfile(str(printed)).to_dict()
    assert reloaded == {
        'default_scope': 'vidft',
        'model': {'type': 'recognition.Recognizer2D',
                  'cls_head': {'num_classes': 10}},
        'train_cfg': {'by_epoch': True, 'max_epochs': 7, 'val_interval': 5},
        'train_pipeline': [{'type': 'VideoDecode'}],
        'randomness': {'seed': 0},
    }


def test_config_show_reports_invalid_config(child, capsys):
    with open(child, 'a') as f:
        f.write('optim_wraper = dict()\n')

    status = main(['config', 'show', child])

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ''
    assert captured.err.startswith('vidft config: error: invalid config')
    assert "optim_wraper: unknown top-level key; did you mean " \
        "'optim_wrapper'?" in captured.err


def test_config_show_reports_wrong_option_type(child, capsys):
    status = main(['config', 'show', child, '--cfg-options',
                   'train_cfg.max_epochs=abc'])

    err = capsys.readouterr().err
    assert status == 1
    assert "train_cfg.max_epochs: expected int, got str 'abc'" in err


def test_config_show_missing_file(tmp_path, capsys):
    status = main(['config', 'show', str(tmp_path / 'absent.py')])

    assert status == 1
    assert 'config file not found' in capsys.readouterr().err


def test_config_without_action_is_usage_error(capsys):
    status = main(['config'])

    assert status == 2
    assert 'ACTION' in capsys.readouterr().err


def test_unknown_command_is_usage_error(capsys):
    status = main(['trian'])

    assert status == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err


def test_missing_command_module_is_named(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, 'ghost',
                        ('vidft.cli.ghost', 'a command without a module'))

    status = main(['ghost'])

    err = capsys.readouterr().err
    assert status == 1
    assert "the command 'ghost'" in err
    assert 'vidft.cli.ghost is missing' in err


def test_command_module_without_run_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / 'vidft_half_command.py').write_text(
        'def add_arguments(parser):\n    pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, 'half',
                        ('vidft_half_command', 'a command without run'))

    status = main(['half'])

    assert status == 1
    assert 'lacks run()' in capsys.readouterr().err


def test_import_error_inside_command_propagates(tmp_path, monkeypatch):
    (tmp_path / 'vidft_needs_dep.py').write_text(
        'import vidft_dependency_that_is_not_installed\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, 'needs',
                        ('vidft_needs_dep', 'a command with a missing import'))

    with pytest.raises(ModuleNotFoundError,
                       match='vidft_dependency_that_is_not_installed'):
        main(['needs'])


def test_help_imports_no_command_module():
    code = textwrap.dedent('''
        import json, sys
        from vidft.cli import main
        status = main(['--help'])
        print(json.dumps([status, sorted(sys.modules)]))
    ''')

    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, timeout=60, check=True)

    status, modules = json.loads(result.stdout.splitlines()[-1])
    assert status == 0
    assert 'vidft.cli.train' not in modules
    assert 'vidft.cli.config' not in modules
    assert 'torch' not in modules
    assert 'mmengine.runner' not in modules
