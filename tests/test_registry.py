"""Errors and look-ups of vidft.registry.

The tests use registries of their own (no import locations) or registries
without locations, so that no task code is imported.
"""
import sys
import textwrap

import pytest

from vidft import plugins
from vidft.registry import (CORE_SCOPE, FUNCTIONS, REGISTRIES,
                            DuplicateRegistrationError, UnknownTypeError,
                            VidftRegistry, count_components, drop_scope,
                            scoped_registries)


class FirstHead:
    pass


class SecondHead:
    pass


def plugin_source(scope: str, registry: str, definition: str) -> str:
    """Return the source of a plugin module that registers ``definition``
    (one function or class) in its scoped ``registry``."""
    return ('from vidft.registry import scoped_registries\n\n'
            f'registries = scoped_registries({scope!r})\n\n'
            f'@registries.{registry}.register_module()\n'
            + textwrap.dedent(definition).lstrip('\n'))


@pytest.fixture
def heads() -> VidftRegistry:
    # Named 'head' like vidft.registry.HEADS, so that plugin HEADS match it.
    return VidftRegistry('head', scope=CORE_SCOPE)


def test_duplicate_names_registry_and_registrants(heads):
    heads.register_module(name='ClsHead', module=FirstHead)

    with pytest.raises(DuplicateRegistrationError) as info:
        heads.register_module(name='ClsHead', module=SecondHead)

    message = str(info.value)
    assert 'vidft::head' in message
    assert f'{__name__}.FirstHead' in message
    assert f'{__name__}.SecondHead' in message
    assert 'force=True' in message
    assert heads.get('ClsHead') is FirstHead


def test_same_object_registers_twice(heads):
    heads.register_module(name='ClsHead', module=FirstHead)
    heads.register_module(name='ClsHead', module=FirstHead)

    assert heads.get('ClsHead') is FirstHead


def test_force_overrides_registration(heads):
    heads.register_module(name='ClsHead', module=FirstHead)
    heads.register_module(name='ClsHead', module=SecondHead, force=True)

    assert heads.get('ClsHead') is SecondHead


def test_unknown_type_suggests_close_names(heads, fake_plugins):
    heads.register_module(name='ClsHead', module=FirstHead)
    heads.register_module(name='I3DHead', module=SecondHead)

    with pytest.raises(UnknownTypeError) as info:
        heads.get('ClsHaed')

    message = str(info.value)
    assert "'ClsHaed' is not registered in the vidft::head registry" in message
    assert "Did you mean 'ClsHead'" in message
    assert 'I3DHead' not in message


def test_unknown_type_without_close_name(heads, fake_plugins):
    heads.register_module(name='ClsHead', module=FirstHead)

    with pytest.raises(UnknownTypeError) as info:
        heads.get('TransformerDecoder')

    assert 'Did you mean' not in str(info.value)


def test_unknown_scope_lists_installed_plugins(heads, fake_plugins):
    module = fake_plugins.add('alpha', 'VALUE = 1\n')

    with pytest.raises(UnknownTypeError) as info:
        heads.get('nosuchscope.ClsHead')

    message = str(info.value)
    assert "no plugin has the scope 'nosuchscope'" in message
    assert 'alpha' in message
    assert plugins.discover()['alpha'].status == 'not loaded'
    assert module not in sys.modules


def test_unknown_type_names_providing_plugin(heads, fake_plugins):
    fake_plugins.add('provider', plugin_source('provider', 'HEADS', '''
        class SlowFastHead:
            pass
    '''))

    with pytest.raises(UnknownTypeError) as info:
        heads.get('SlowFastHead')

    message = str(info.value)
    assert "Plugin 'provider' provides it" in message
    assert "type='provider.SlowFastHead'" in message


def test_scope_prefix_loads_plugin(fake_plugins):
    module = fake_plugins.add('gamma', plugin_source('gamma', 'FUNCTIONS', '''
        def double(x):
            return 2 * x
    '''))
    assert plugins.discover()['gamma'].status == 'not loaded'

    double = FUNCTIONS.get('gamma.double')

    assert double(21) == 42
    assert double.__module__ == module
    assert plugins.discover()['gamma'].status == 'loaded'
    assert count_components('gamma') == {'function': 1}


def test_prefixed_unknown_type_suggests_plugin_names(fake_plugins):
    fake_plugins.add('epsilon', plugin_source('epsilon', 'FUNCTIONS', '''
        def triple(x):
            return 3 * x
    '''))

    with pytest.raises(UnknownTypeError) as info:
        FUNCTIONS.get('epsilon.tripel')

    message = str(info.value)
    assert 'the epsilon::function registry' in message
    assert "Did you mean 'epsilon.triple'?" in message


def test_suggestion_resolves_from_own_scope(fake_plugins):
    from vidft.registry import DATASETS

    fake_plugins.add('zeta', plugin_source('zeta', 'DATASETS', '''
        class ClipDataset:
            pass
    '''))

    # mmengine finds a parent's name under the registry's own prefix only
    # from other scopes, so inside 'zeta' the suggestion has no prefix.
    with DATASETS.switch_scope_and_registry('zeta') as registry:
        with pytest.raises(UnknownTypeError) as info:
            registry.get('zeta.RepeatDatset')
        assert "Did you mean 'RepeatDataset'" in str(info.value)
        with pytest.raises(UnknownTypeError) as info:
            registry.get('zeta.ClipDatset')
        assert "Did you mean 'zeta.ClipDataset'" in str(info.value)
        assert registry.get('RepeatDataset') is not None


def test_core_scope_prefix_gets_name_suggestion():
    from vidft.registry import DATASETS

    with pytest.raises(UnknownTypeError) as info:
        DATASETS.get('mmengine.ConcatDatset')
    assert 'no plugin has the scope' not in str(info.value)
    assert "Did you mean 'mmengine.ConcatDataset'" in str(info.value)


def test_scope_prefix_of_broken_plugin_raises(fake_plugins):
    fake_plugins.add('delta', "raise RuntimeError('delta cannot start')\n")

    with pytest.raises(plugins.PluginError, match='delta cannot start'):
        FUNCTIONS.get('delta.anything')


def test_scoped_registries_rejects_core_scope():
    with pytest.raises(ValueError, match="other than 'vidft'"):
        scoped_registries(CORE_SCOPE)
    with pytest.raises(ValueError, match='identifier'):
        scoped_registries('not-an-identifier')


def test_scoped_registries_attach_and_drop():
    scope = 'registrytestscope'
    namespace = scoped_registries(scope)
    try:
        assert scoped_registries(scope) is namespace
        assert set(vars(namespace)) == set(REGISTRIES)
        assert FUNCTIONS.children[scope] is namespace.FUNCTIONS
        assert namespace.FUNCTIONS.scope == scope
    finally:
        drop_scope(scope)

    assert scope not in FUNCTIONS.children
    assert count_components(scope) == {}


def test_get_rejects_non_str_key(heads):
    with pytest.raises(TypeError, match='expected a str key'):
        heads.get(3)
