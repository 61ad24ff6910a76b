"""Shared pieces of the benchmark scripts: machine description and timing."""

import os
import platform


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
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
