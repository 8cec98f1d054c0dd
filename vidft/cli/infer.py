"""Run a trained model on one input video (or a folder of frames, for an
inferencer that sets ``accepts_frame_folder``).

``vidft infer CONFIG CHECKPOINT INPUT [--out OUTPUT] [--device DEVICE]``
loads the config, builds the inferencer of its task, runs it on INPUT and
prints its result (for recognition, the table of the top classes). With
``--out`` the inferencer also writes its output video. CHECKPOINT ``none``
passes ``checkpoint=None``, for models without weights to load.

Finding the inferencer. A top-level ``inferencer = dict(type=...)`` key in
the config names it; the other keys of that dict are passed to it. Without
the key, the task is the scope of the model's type (``'recognition'`` for
``type='recognition.Recognizer2D'``). A wrapper type without a prefix, such
as ``PeftModel``, takes the scope of its inner ``model`` dict. When no type
has a prefix, ``default_scope`` is the task. That plugin must register
exactly one inferencer.

An inferencer is a class in the INFERENCERS registry that is built as
``Inferencer(config=cfg, checkpoint=path, device=name, **options)`` and
called as ``inferencer(input_path, out=output_path_or_None)``. When it has a
``format_result(result) -> str`` method, its text is printed. Otherwise the
result's ``repr`` is printed. An inferencer class with ``requires_out =
True`` makes ``--out`` required. One with ``accepts_style = True`` takes
``--style IMAGE``: its ``style_problem(image)`` returns why the model
cannot use the image (an error message) or None, and then it is called
with ``style=image``. A static ``check_options(options)`` that raises
TypeError or ValueError lets the command report bad options of the
config's ``inferencer`` dict before the model loads.
"""
import argparse
import copy
import os
import os.path as osp
import signal
import sys
import threading
from typing import Any, Dict, Optional, Tuple, Type

from mmengine.config import Config

from ..config import ConfigError, load_config
from ..data.video import FRAME_EXTENSIONS, list_frame_files
from ..registry import CORE_SCOPE, INFERENCERS, scoped_registries

CONFIG_KEY = 'inferencer'

#: The CHECKPOINT argument that loads no weights.
NO_CHECKPOINT = 'none'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', metavar='CONFIG',
                        help='path of the Python config the model was '
                        'trained with')
    parser.add_argument('checkpoint', metavar='CHECKPOINT',
                        help="checkpoint file (.pth from training, or "
                        ".safetensors), or 'none' for a model that needs no "
                        "weights (the frame-averaging and bicubic baselines)")
    parser.add_argument('input', metavar='INPUT',
                        help='input video file, or a folder of frames for '
                        'tasks that read one (frame interpolation)')
    parser.add_argument('--out', metavar='OUTPUT', default=None,
                        help='write the output video here (.mp4, .mkv, .mov '
                        'or .avi). Without it, recognition writes no video, '
                        'VSR writes INPUT_x<scale>.mp4, stylization writes '
                        'INPUT_stylized.mp4 (neither replaces an existing '
                        'file), and interpolation asks for it')
    parser.add_argument('--compare', action='store_true',
                        help='VSR: write the bicubic upscaling and the model '
                        'output side by side')
    parser.add_argument('--style', metavar='IMAGE', default=None,
                        help='stylization: style image for a network that '
                        'takes one (a per-style network reports that it '
                        'takes none)')
    parser.add_argument('--device', default='cpu',
                        help="torch device to run on, e.g. 'cpu', 'cuda' or "
                        "'cuda:1' (default: cpu)")
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='override config keys, e.g. '
        'model.cls_head.average_clips=prob')


def task_scope(cfg: Config) -> Optional[str]:
    """Return the plugin scope of the config's model, if it has one.

    A wrapper type without a scope prefix (``type='PeftModel'``) takes the
    scope of its inner ``model`` dict, at any depth.
    """
    model = cfg.get('model')
    while isinstance(model, dict):
        model_type = model.get('type')
        if isinstance(model_type, str) and '.' in model_type:
            return model_type.split('.', 1)[0]
        model = model.get('model')
    scope = cfg.get('default_scope')
    return scope if scope and scope != CORE_SCOPE else None


def find_inferencer(cfg: Config) -> Tuple[Type, Dict[str, Any]]:
    """Return the inferencer class for ``cfg`` and its extra options.

    Raises:
        ConfigError: the config names no inferencer and its task's plugin
            registers none or several.
    """
    spec = cfg.get(CONFIG_KEY)
    if spec is not None:
        if not isinstance(spec, dict) or not isinstance(spec.get('type'),
                                                        str):
            raise ConfigError([(CONFIG_KEY, (
                f"expected dict(type='<scope>.<Inferencer>', ...), got "
                f'{spec!r}'))], source=cfg.filename)
        options = copy.deepcopy(dict(spec))
        return INFERENCERS.get(options.pop('type')), options

    scope = task_scope(cfg)
    if scope is None:
        raise ConfigError([(CONFIG_KEY, (
            'missing, and neither the model type nor the type of a model '
            "it wraps has a plugin scope to find the task's inferencer by; "
            "add inferencer = dict(type='<scope>.<Inferencer>') to the "
            'config'))], source=cfg.filename)
    from .. import plugins
    plugins.load_scope(scope)
    registered = scoped_registries(scope).INFERENCERS.module_dict
    if len(registered) != 1:
        found = ', '.join(sorted(registered)) or 'none'
        raise ConfigError([(CONFIG_KEY, (
            f"missing, and plugin '{scope}' registers {len(registered)} "
            f'inferencers ({found}), so the choice is ambiguous; add '
            f"inferencer = dict(type='{scope}.<Inferencer>') to the config"
        ))], source=cfg.filename)
    return next(iter(registered.values())), {}


def check_arguments(args: argparse.Namespace) -> Optional[str]:
    """Return what is wrong with the paths and device of ``args``, if
    anything, so that a mistake shows before the model is built and run."""
    if not osp.exists(args.input):
        return f'input {args.input} does not exist'
    if not osp.isfile(args.input) and not osp.isdir(args.input):
        return f'input {args.input} is neither a video file nor a folder'
    if args.out is not None:
        suffix = osp.splitext(args.out)[1].lower()
        from vidft.data.video import OUTPUT_FORMATS

        if suffix not in OUTPUT_FORMATS:
            return (f'expected --out to end in one of {tuple(OUTPUT_FORMATS)}, '
                    f'got {args.out}')
        # samefile also catches a symbolic or hard link to the input, which
        # the writer would truncate while the reader still decodes it.
        if osp.exists(args.out) and osp.samefile(args.out, args.input):
            return (f'--out {args.out} is the input video; write the output '
                    'to another file')
        folder = osp.dirname(osp.abspath(args.out))
        if not osp.isdir(folder):
            return (f'the folder of --out {args.out} does not exist; create '
                    f'{folder} first')
        if not os.access(folder, os.W_OK):
            return (f'cannot write to {folder}, the folder of --out '
                    f'{args.out}; pick a folder you can write to')
        if osp.isdir(args.out):
            return f'--out {args.out} is a folder; name a video file'
    if str(args.device).startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            return (f'--device {args.device} needs a CUDA GPU, and torch '
                    'finds none; use --device cpu')
    return None


class _Terminated(BaseException):
    """SIGTERM arrived while the command ran.

    A BaseException, as KeyboardInterrupt is, so that no ``except Exception``
    on the way up (a logging handler, a decode fallback) swallows it.
    """


def _raise_terminated(signum: int, frame: Any) -> None:
    # The exception unwinds the with blocks, so the writer deletes its
    # partial file. The default SIGTERM action would end the process and
    # leave it. Printing here could re-enter a write to stderr.
    raise _Terminated()


def run(args: argparse.Namespace) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _run(args)  # only the main thread may set signal handlers
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _run(args)
    except _Terminated:
        print('vidft infer: terminated', file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    from . import EXIT_USER_ERROR

    problem = check_arguments(args)
    if problem is not None:
        print(f'vidft infer: error: {problem}', file=sys.stderr)
        return EXIT_USER_ERROR
    cfg = load_config(args.config, args.cfg_options)
    inferencer_class, options = find_inferencer(cfg)
    if args.out is None and getattr(inferencer_class, 'requires_out', False):
        print(f'vidft infer: error: {inferencer_class.__name__} always writes a '
              'video; pass --out OUTPUT.mp4', file=sys.stderr)
        return EXIT_USER_ERROR
    is_folder = osp.isdir(args.input)
    if is_folder and not getattr(inferencer_class, 'accepts_frame_folder',
                                 False):
        print(f'vidft infer: error: {args.input} is a folder, and '
              f'{inferencer_class.__name__} reads video files only; pass a '
              'video file', file=sys.stderr)
        return EXIT_USER_ERROR
    if is_folder and not list_frame_files(args.input):
        # Checked before the model is built, which can take a while.
        print(f'vidft infer: error: the folder {args.input} contains no frames; '
              f'pass a folder of images ({", ".join(FRAME_EXTENSIONS)}) '
              'or a video file', file=sys.stderr)
        return EXIT_USER_ERROR
    if args.compare:
        if not getattr(inferencer_class, 'accepts_compare', False):
            print(f'vidft infer: error: --compare needs an inferencer with a '
                  f"'compare' option (the VSR one); "
                  f'{inferencer_class.__name__} has none', file=sys.stderr)
            return EXIT_USER_ERROR
        options['compare'] = True
    check_options = getattr(inferencer_class, 'check_options', None)
    if check_options is not None:
        # Before the model loads: a bad option is a config error.
        try:
            check_options(options)
        except (TypeError, ValueError) as exc:
            print(f'vidft infer: error: the inferencer options of '
                  f'{args.config} (its inferencer dict and --cfg-options '
                  f'inferencer.*): {exc}', file=sys.stderr)
            return EXIT_USER_ERROR
    if args.style is not None and not getattr(inferencer_class,
                                              'accepts_style', False):
        print(f'vidft infer: error: --style needs an inferencer that takes a '
              f'style image (the stylization one); '
              f'{inferencer_class.__name__} takes none', file=sys.stderr)
        return EXIT_USER_ERROR
    checkpoint = None if args.checkpoint == NO_CHECKPOINT else args.checkpoint
    inferencer = inferencer_class(config=cfg, checkpoint=checkpoint,
                                  device=args.device, **options)
    call_options = {}
    if args.style is not None:
        problem = inferencer.style_problem(args.style)
        if problem is not None:
            print(f'vidft infer: error: {problem}', file=sys.stderr)
            return EXIT_USER_ERROR
        call_options['style'] = args.style
    result = inferencer(args.input, out=args.out, **call_options)

    format_result = getattr(inferencer, 'format_result', None)
    print(format_result(result) if callable(format_result) else repr(result))
    return 0
