"""Progress of long work: a bar where one can be drawn (a terminal, a notebook), nothing otherwise.

A bar written to a log file or a pipe is a run of carriage-return updates that ends wherever the
work stopped (the converter's log showed a lone ``0%``); there, callers print plain lines instead.
"""

import sys
from collections.abc import Iterable
from typing import Any


def interactive() -> bool:
    """Whether a progress bar can be drawn: stderr is a terminal, or this is a Jupyter kernel
    (``tqdm.auto`` draws a widget there)."""
    if "ipykernel" in sys.modules:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None and "IPKernelApp" in shell.config:
                return True
        except Exception:  # noqa: BLE001 - no usable IPython: not a notebook
            pass
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs: Any) -> Any:
    """``tqdm.auto.tqdm(iterable, **kwargs)``, disabled unless ``enabled`` and :func:`interactive`.

    A disabled bar accepts every call, so callers need no branches; ``bar.disable`` tells them to
    report in plain lines instead.
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not (enabled and interactive()), **kwargs)
