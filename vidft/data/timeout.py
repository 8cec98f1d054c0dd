"""A time limit for decoding one sample or one file.

:func:`decode_timeout` arms ``SIGALRM`` through :func:`signal.setitimer` and
raises :class:`DecodeTimeoutError` from the signal handler when the time is
up. That is the one mechanism that stops a decode in the process that runs
it, without a process per decode: a helper thread with a join timeout would
leave the hung call running and holding the reader.

Where it works and where it does not:

* It works in the main thread of a process. That covers the data loader's
  worker processes (PyTorch runs the worker loop in their main thread), the
  main process with ``num_workers=0``, and the process pool of
  ``vidft data check``.
* In any other thread, Python does not allow a signal handler to be set, so
  the limit is not enforced there, and a WARNING is logged once per
  process.
* Python runs the handler only when control returns to the interpreter.
  PyAV demuxes and decodes packet by packet from Python, so a slow or
  looping decode is stopped at the next packet, and a blocking ``open()``
  or ``read()`` (a stalled FIFO, tested with PyAV 18.1) returns ``EINTR``.
  NOTE: a C call that restarts its system call after ``EINTR`` and never
  returns to Python is not stopped. ``vidft data check`` therefore also
  kills a pool worker that overruns the limit by :data:`HARD_KILL_GRACE`
  seconds; the data loader has no such backstop.
"""
import logging
import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from .video import VideoDecodeError

logger = logging.getLogger(__name__)

_warned_thread = False


class DecodeTimeoutError(VideoDecodeError):
    """A decode that did not finish within its time limit. ``seconds`` is the
    limit."""

    def __init__(self, path: str, seconds: float) -> None:
        super().__init__(path, f'timed out after {seconds:g} s')
        self.seconds = seconds


#: Seconds that ``vidft data check`` waits beyond ``--timeout`` before it
#: kills a worker whose decode ignored the alarm.
HARD_KILL_GRACE = 5.0


def timeout_supported() -> bool:
    """Return whether :func:`decode_timeout` can enforce a limit in this
    thread."""
    return (hasattr(signal, 'setitimer')
            and threading.current_thread() is threading.main_thread())


@contextmanager
def decode_timeout(seconds: Optional[float], path: str) -> Iterator[None]:
    """Raise :class:`DecodeTimeoutError` naming ``path`` if the body runs
    longer than ``seconds``.

    ``None`` or ``0`` means no limit. An alarm that the process had armed
    before is suspended for the duration and re-armed afterwards with the
    time it had left (less the time spent here). Outside the main thread
    the body runs without a limit (see the module notes).

    Raises:
        ValueError: ``seconds`` is negative.
    """
    if seconds is not None and seconds < 0:
        raise ValueError(f'expected decode_timeout >= 0 seconds (0 or None: '
                         f'no limit), got {seconds!r}')
    if not seconds:
        yield
        return
    if not timeout_supported():
        _warn_unsupported_once(seconds)
        yield
        return

    fired = []

    def on_alarm(signum: int, frame: Any) -> None:
        fired.append(True)
        raise DecodeTimeoutError(path, seconds)

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except DecodeTimeoutError:
        raise
    except Exception as error:
        # PyAV turns an exception raised in the handler during an FFmpeg
        # call into its own error (av.error.InterruptedError, for one).
        if fired:
            raise DecodeTimeoutError(path, seconds) from error
        raise
    else:
        # The body caught the handler's exception and carried on; its
        # result came after the limit, so it is not used.
        if fired:
            raise DecodeTimeoutError(path, seconds)
    finally:
        remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            used = seconds - remaining
            # An earlier alarm that fell due meanwhile fires at once.
            signal.setitimer(signal.ITIMER_REAL,
                             max(previous_delay - used, 1e-3))


def _warn_unsupported_once(seconds: float) -> None:
    global _warned_thread
    if _warned_thread:
        return
    _warned_thread = True
    logger.warning(
        'decode_timeout=%g s is not enforced in thread %r: a SIGALRM handler '
        'can only be set in the main thread of a process. Load samples in '
        'the main thread or in data loader worker processes to enforce it.',
        seconds, threading.current_thread().name)
