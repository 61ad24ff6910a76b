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
    jax_device = f"JAX device {device.platform}:{device.device_kind}"
    return f"{cpu} ({cpu_features()}), {os.cpu_count()} cores, {jax_device}; {versions}"


def cpu_features() -> str:
    """The CPU's bf16 matrix features (what decides bf16 speed on CPU), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "flags unknown"
    wanted = ("avx512f", "avx512_bf16", "amx_bf16")
    present = [flag for flag in wanted if flag in flags]
    return "no AVX-512, no bf16 matrix instructions" if not present else "+".join(present)
