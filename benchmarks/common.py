"""Shared pieces of the benchmark scripts: machine description and timing."""

import os

from mluke_jax.timing import cpu_model


def machine() -> str:
    cpu = cpu_model()
    import jax
    import numpy

    versions = f"jax {jax.__version__}, numpy {numpy.__version__}"
    try:
        import torch
        import transformers

        versions += f", torch {torch.__version__}, transformers {transformers.__version__}"
    except ImportError:
        pass
    device = jax.devices()[0]
    return f"{cpu}, {os.cpu_count()} cores, JAX device {device.platform}:{device.device_kind}; {versions}"
