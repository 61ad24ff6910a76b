"""Warnings that point at the caller's line, however deep in the library they are raised."""

import os
import sys
import warnings
from pathlib import Path

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside ``mluke_jax`` (the user's call).

    A fixed ``stacklevel`` is wrong as soon as the same warning is reached through another call
    path (``from_pretrained`` -> ``load_pretrained`` -> ``assemble``, or ``load_pretrained`` directly).
    """
    level, frame = 2, sys._getframe(1)  # stacklevel 2: warn()'s caller
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
