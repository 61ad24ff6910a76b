"""Model FLOPs of a training step and the peak they are measured against (model FLOPs utilisation).

Model FLOPs count the matrix products of the forward pass (2 per multiply-add) times 3 for
forward + backward, as the PaLM paper's MFU does: recomputation (``--remat``) and elementwise
work are not counted. :func:`luke_step_flops` / :func:`xlm_step_flops` give them for one example;
the test compares them with XLA's own count of the compiled gradient step.

:func:`peak_flops` is the device's dense peak: ``--peak-flops`` when given, else a table of known
accelerators (bf16 dense figures of the vendors' data sheets, per chip), else — on CPU — a
measured matrix-product rate in the run's dtype (a practical peak, not the data sheet's).
"""

import time
from typing import Any

import numpy as np

# bf16 dense peak FLOP/s per chip (vendor data sheets); matched against jax's device_kind
KNOWN_PEAKS = {
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v5": 459e12,
    "TPU v6 lite": 918e12,
    "TPU v6e": 918e12,
    "NVIDIA H200": 989e12,
    "NVIDIA H100": 989e12,
    "NVIDIA A100": 312e12,
    "NVIDIA L4": 121e12,
    "NVIDIA A10": 125e12,
}


def _encoder_flops(layers: int, hidden: int, intermediate: int, tokens: int, attended: int) -> float:
    """Forward FLOPs of the layers for ``tokens`` positions, each attending to ``attended``."""
    projections = 4 * hidden * hidden + 2 * hidden * intermediate  # q, k, v, out; two FFN matrices
    attention = 2 * attended * hidden  # scores and the weighted sum
    return layers * 2.0 * tokens * (projections + attention)


def luke_step_flops(config: Any, seq_length: int, entity_length: int, predicted_words: int | None = None) -> float:
    """Training FLOPs of one ``LukeForMaskedLM`` example: ``seq_length`` words and ``entity_length``
    entities (attending to each other: LUKE concatenates the two sequences), the word LM head on
    ``predicted_words`` positions (``masked_positions``; default every word) and the entity head on
    every entity."""
    h, e = config.hidden_size, config.entity_emb_size
    tokens = seq_length + entity_length
    forward = _encoder_flops(config.num_hidden_layers, h, config.intermediate_size, tokens, tokens)
    projection = e * h if e != h else 0  # the entity embeddings' projection to the hidden size
    forward += 2.0 * entity_length * projection
    heads = seq_length if predicted_words is None else predicted_words
    forward += 2.0 * heads * (h * h + h * config.vocab_size)  # LM head: dense, decoder
    forward += 2.0 * entity_length * (h * e + e * config.entity_vocab_size)  # entity head: dense, decoder
    return 3.0 * forward


def xlm_step_flops(config: Any, seq_length: int) -> float:
    """Training FLOPs of one ``XLMWithLMHeadModel`` example of ``seq_length`` tokens."""
    h = config.emb_dim
    forward = _encoder_flops(config.n_layers, h, config.intermediate_size, seq_length, seq_length)
    forward += 2.0 * seq_length * h * config.vocab_size  # the (tied) prediction layer
    return 3.0 * forward


def measured_matmul_peak(dtype: str = "float32", size: int = 1024, seconds: float = 0.5) -> float:
    """FLOP/s of a jitted ``size`` x ``size`` matrix product on the default device (float32
    accumulation), over about ``seconds``."""
    import jax
    import jax.numpy as jnp

    a = jnp.asarray(np.random.default_rng(0).standard_normal((size, size)), dtype)
    product = jax.jit(lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32))
    product(a, a).block_until_ready()
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or runs < 2:
        product(a, a).block_until_ready()
        runs += 1
    return 2.0 * size**3 * runs / (time.perf_counter() - started)


def peak_flops(given: float | None = None, dtype: str = "float32") -> tuple[float, str]:
    """``(FLOP/s of all local devices together, where the figure comes from)``."""
    import jax

    devices = jax.local_devices()
    if given:
        return float(given) * len(devices), "--peak-flops"
    kind = devices[0].device_kind
    for name, value in sorted(KNOWN_PEAKS.items(), key=lambda item: -len(item[0])):
        if kind.startswith(name):
            return value * len(devices), f"{kind} data sheet (bf16 dense)"
    if devices[0].platform == "cpu":
        # fake CPU devices share the same cores: the measured rate is the whole machine's
        return measured_matmul_peak(dtype), f"measured {dtype} matrix products on {kind}"
    return float("nan"), f"unknown device {kind!r}: give --peak-flops"
