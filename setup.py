"""Install vidft and its task plugins.

Each task plugin is its own package under ``plugins/<task>/`` and is found by
vidft only through its entry point in the group ``vidft.plugins``, exactly as
a third-party plugin would be.
"""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))

# Entry-point name (the scope users write) -> (package name, folder).
TASK_PLUGINS = {
    'recognition': ('vidft_recognition', 'plugins/recognition'),
    'vsr': ('vidft_vsr', 'plugins/vsr'),
    'interpolation': ('vidft_interpolation', 'plugins/interpolation'),
    'stylization': ('vidft_stylization', 'plugins/stylization'),
}


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(HERE, 'vidft', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    path = osp.join(HERE, 'requirements', name)
    with open(path) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


packages = find_packages(include=['vidft', 'vidft.*'])
package_dir = {}
for package, folder in TASK_PLUGINS.values():
    package_dir[package] = folder
    packages.append(package)
    packages += [f'{package}.{sub}' for sub in find_packages(folder)]

setup(
    name='vidft',
    version=read_version(),
    description='Fine-tune pretrained models on video tasks: recognition, '
    'super-resolution, frame interpolation and stylization',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=packages,
    package_dir=package_dir,
    include_package_data=True,
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'demo': read_requirements('demo.txt'),
        'optional': read_requirements('optional.txt'),
        'tests': (read_requirements('tests.txt') +
                  read_requirements('demo.txt') +
                  read_requirements('optional.txt')),
    },
    entry_points={
        'console_scripts': ['vidft = vidft.cli:main'],
        'vidft.plugins': [
            f'{name} = {package}'
            for name, (package, _) in TASK_PLUGINS.items()
        ],
    },
)
