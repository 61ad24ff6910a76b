"""Small pieces every layer uses: parameter factories with logical axis names, clamped lookups,
attention masks (activations: ``mluke_jax/activations.py``, dropout: ``layers/dropout.py``).

Shape letters used across the package: B batch, L word tokens, E entities, M mention length,
T = L + E, D hidden, H heads, K head dim, F ffn width, V vocabulary, N layers.
"""

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from mluke_jax.sharding import padded_param_init, padded_size, param_init

Array = jax.Array


class FrozenParam(nnx.Param):
    """A parameter saved and loaded with the model but never trained (XLM's sinusoidal positions).

    It is an ``nnx.Param`` (checkpoints and sharding treat it like any other); optimisers take
    ``nnx.All(nnx.Param, nnx.Not(FrozenParam))``. The original XLM code freezes the sinusoidal
    table; transformers 5 means to (``requires_grad=False``) but sets the flag on a temporary
    tensor that is then copied in, so its table is in fact trainable (see the README).
    """


def normal_init(stddev: float = 0.02) -> nnx.Initializer:
    return nnx.initializers.normal(stddev)


def layer_norm(
    features: int, epsilon: float, axis_name: str = "embed", *, param_dtype: DTypeLike = jnp.float32, rngs: nnx.Rngs
) -> nnx.LayerNorm:
    """LayerNorm as torch computes it: the configured epsilon and the exact (two-pass) variance.

    Computed and returned in float32 whatever the compute dtype (as under ``torch.autocast``): the
    residual stream between the matmuls stays float32, only matmul operands are low precision
    (see :mod:`mluke_jax.layers.linear`).
    """
    return nnx.LayerNorm(
        features,
        epsilon=epsilon,
        use_fast_variance=False,
        dtype=jnp.float32,
        param_dtype=param_dtype,
        scale_init=param_init(nnx.initializers.ones_init(), axis_name),
        bias_init=param_init(nnx.initializers.zeros_init(), axis_name),
        rngs=rngs,
    )


def embedding(
    num: int,
    features: int,
    axes: tuple[str | None, str | None],
    *,
    param_dtype: DTypeLike = jnp.float32,
    stddev: float = 0.02,
    rngs: nnx.Rngs,
) -> nnx.Embed:
    """``nnx.Embed`` with a ``(num, features)`` table named ``axes``; lookups return float32 rows
    (summed and normalised in float32, like the LayerNorms).

    A vocabulary table (``axes[0]`` in :data:`~mluke_jax.sharding.PADDED_AXES`) built under a mesh
    gets zero rows past ``num`` up to a multiple of its mesh axis; they are never looked up.
    """
    rows = padded_size(num, axes[0])
    return nnx.Embed(
        rows,
        features,
        dtype=jnp.float32,
        param_dtype=param_dtype,
        embedding_init=padded_param_init(normal_init(stddev), axes, (num, features)),
        rngs=rngs,
    )


def lookup(table: nnx.Embed, ids: Array, padding_idx: int | None = None) -> Array:
    """Gather rows of ``table``, clamping ids into range first.

    JAX gathers wrap negative indices and return NaN past the end; callers validate ids on the host,
    and the clamp keeps traced callers (inside a user's jit) finite.

    ``padding_idx`` (PyTorch's ``nn.Embedding(padding_idx=)``): lookups of that row pass no
    gradient to it. Values are unchanged; other uses of the table (a tied decoder) still train the
    row, exactly as in PyTorch.
    """
    out = table(jnp.clip(ids, 0, table.num_embeddings - 1))
    if padding_idx is None:
        return out
    return jnp.where((ids == padding_idx)[..., None], jax.lax.stop_gradient(out), out)


def additive_mask(mask: Array) -> Array:
    """``(B, T)`` mask (non-zero = attend) -> ``(B, 1, 1, T)`` additive float32 bias: 0 or the float32 minimum.

    Any non-zero value attends, as transformers 5 reads masks as booleans. The bias is
    ``finfo(float32).min``, never -inf, so a row with every key masked stays finite (a uniform
    softmax) instead of NaN.
    """
    return jnp.where(mask != 0, 0.0, jnp.finfo(jnp.float32).min).astype(jnp.float32)[:, None, None, :]
