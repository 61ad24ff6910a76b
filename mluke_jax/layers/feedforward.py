"""Position-wise feed-forward block."""

import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from mluke_jax.activations import activation
from mluke_jax.layers.common import Array
from mluke_jax.layers.linear import Dense


class FeedForward(nnx.Module):
    """``fc_out(act(fc_in(x)))``: ``(B, T, D) -> (B, T, F) -> (B, T, D)``."""

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        act: str,
        *,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.act_name = act
        self.fc_in = Dense(
            hidden_size, intermediate_size, ("embed", "mlp"), dtype=dtype, param_dtype=param_dtype, rngs=rngs
        )
        self.fc_out = Dense(
            intermediate_size, hidden_size, ("mlp", "embed"), dtype=dtype, param_dtype=param_dtype, rngs=rngs
        )

    def __call__(self, x: Array) -> Array:
        return self.fc_out(activation(self.act_name)(self.fc_in(x)))
