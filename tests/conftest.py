"""Fixtures shared by the test suite.

``fake_plugins`` installs plugin distributions that exist only in a temporary
folder on ``sys.path``: each is a module plus a ``*.dist-info`` folder whose
``entry_points.txt`` declares it in the group ``vidft.plugins``, which is
all that ``importlib.metadata`` needs to find it.
"""
import importlib
import importlib.metadata
import os
import sys
import textwrap
from pathlib import Path
from typing import List

import pytest

from vidft import plugins


class FakePlugins:
    """Writes fake plugin distributions into ``root``.

    The plugins installed for real (those of vidft itself) are disabled
    through ``VIDFT_DISABLE_PLUGINS`` while the fixture is active, so that
    only the plugins a test adds can load.
    """

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self._monkeypatch = monkeypatch
        self.names: List[str] = []
        self.modules: List[str] = []
        entry_points = importlib.metadata.entry_points(
            group=plugins.ENTRY_POINT_GROUP)
        self.real_names = sorted({point.name for point in entry_points})
        self.disable()

    def add(self, name: str, source: str, *, version: str = '1.0.0',
            distribution: str = '') -> str:
        """Write plugin ``name`` whose module runs ``source``; return the
        module name."""
        module = f'vidft_fake_{name}'
        distribution = distribution or f'vidft-fake-{name}'
        (self.root / f'{module}.py').write_text(textwrap.dedent(source))
        dist_info = (self.root /
                     f"{distribution.replace('-', '_')}-{version}.dist-info")
        dist_info.mkdir()
        (dist_info / 'METADATA').write_text(
            f'Metadata-Version: 2.1\nName: {distribution}\n'
            f'Version: {version}\n')
        (dist_info / 'entry_points.txt').write_text(
            f'[{plugins.ENTRY_POINT_GROUP}]\n{name} = {module}\n')
        self.names.append(name)
        self.modules.append(module)
        self.rediscover()
        return module

    def disable(self, *names: str) -> None:
        """Disable ``names`` as well as the real plugins, then rediscover."""
        value = ','.join(self.real_names + list(names))
        self._monkeypatch.setenv(plugins.DISABLE_ENV, value)
        self.rediscover()

    def rediscover(self) -> None:
        """Forget every plugin state and read the entry points again."""
        importlib.invalidate_caches()
        self._monkeypatch.setattr(plugins, '_plugins', None)
        plugins.discover()

    def environ(self) -> dict:
        """Environment for a subprocess that finds the same plugins."""
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [str(self.root)] + [p for p in sys.path if p])
        return env

    def cleanup(self) -> None:
        from vidft import registry

        for module in self.modules:
            sys.modules.pop(module, None)
        for name in self.names:
            registry.drop_scope(name)


@pytest.fixture
def fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A :class:`FakePlugins` whose folder is first on ``sys.path``."""
    root = tmp_path / 'site'
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    fake = FakePlugins(root, monkeypatch)
    yield fake
    fake.cleanup()
