"""Matrix products in the compute dtype with float32 accumulation, and the dense layer built on them.

Every matmul of the models goes through :func:`einsum`: its operands are cast to the compute dtype
(bfloat16 in low precision, float32 otherwise), the products are summed in float32
(``preferred_element_type=float32``, as TPU and GPU matrix units do it) and the result is cast to
the dtype the caller asks for. On CPUs with bf16 matrix instructions (AVX-512 BF16 / AMX) XLA runs
bf16 x bf16 -> f32 products several times faster than float32 ones, while a bf16 x bf16 -> bf16
product takes a slow path and sums in bfloat16. In float32 nothing changes: the cast and the
preferred type are no-ops.

``nnx.Linear(dtype=bfloat16)`` computes ``dot_general`` with a bfloat16 result (bfloat16
accumulation), so :class:`Dense` replaces it with the same parameter names (``kernel (in, out)``,
``bias (out,)``), logical axes and initialisation.
"""

import functools

import jax
import jax.numpy as jnp
from flax import nnx
from jax.ad_checkpoint import checkpoint_name
from jax.typing import DTypeLike

from mluke_jax.sharding import param_init

Array = jax.Array

# checkpoint_name of a Dense kernel cast to the compute dtype (a scan may choose not to save it)
CAST_KERNEL = "cast_kernel"


def einsum(subscripts: str, x: Array, y: Array, *, dtype: DTypeLike, out_dtype: DTypeLike | None = None) -> Array:
    """``jnp.einsum(subscripts, x, y)`` on operands cast to ``dtype``, summed in float32.

    ``subscripts`` names two operands and the output (``"...i,io->...o"``), each index of an operand
    appearing in the other operand or in the output. The result has ``out_dtype`` (default
    ``dtype``); pass ``jnp.float32`` to keep the float32 sums (attention scores, logits before a
    bias). In low precision the gradients are computed the same way: the incoming cotangent is
    rounded to ``dtype`` and each operand's gradient is a ``dtype`` product summed in float32.

    One exception, on CPU only: XLA:CPU runs a bf16 x bf16 -> f32 product only through its YNNPACK
    kernels, and a *batched* product (an index in both operands and the output: the attention
    products) that they do not take (a single query position when decoding, head or sequence
    sizes under 8, some operand layouts of the backward pass) fails at run time ("Unsupported
    element type for DotThunk::Execute: BF16 x BF16 = F32"). On CPU those run on float32 operands
    (a few per cent of a forward's FLOPs at 128 tokens); every other platform, and every
    unbatched product everywhere, keeps the low-precision operands.
    """
    x, y = x.astype(dtype), y.astype(dtype)
    if jnp.dtype(dtype) == jnp.float32:
        out = jnp.einsum(subscripts, x, y, preferred_element_type=jnp.float32)
    elif _is_batched(subscripts):
        out = jax.lax.platform_dependent(
            x,
            y,
            cpu=lambda a, b: jnp.einsum(subscripts, a.astype(jnp.float32), b.astype(jnp.float32)),
            default=functools.partial(_low_precision_einsum, subscripts),
        )
    else:
        out = _low_precision_einsum(subscripts, x, y)
    return out.astype(out_dtype or dtype)


def _is_batched(subscripts: str) -> bool:
    inputs, out = subscripts.split("->")
    x_indices, y_indices = inputs.replace("...", "").split(",")
    return bool(set(x_indices) & set(y_indices) & set(out.replace("...", "")))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _low_precision_einsum(subscripts: str, x: Array, y: Array) -> Array:
    return jnp.einsum(subscripts, x, y, preferred_element_type=jnp.float32)


def _low_precision_einsum_forward(subscripts, x, y):
    return _low_precision_einsum(subscripts, x, y), (x, y)


def _low_precision_einsum_backward(subscripts, operands, cotangent):
    # JAX's own transpose of a float32-summed product multiplies the float32 cotangent by the
    # other (low-precision) operand, which XLA computes as a float32 x float32 product, the slow
    # path on CPUs and a waste of the matrix units on accelerators. Written as two einsums of the
    # same kind instead, with the cotangent in the operands' dtype (as torch.autocast has it).
    x, y = operands
    inputs, out = subscripts.split("->")
    x_indices, y_indices = inputs.split(",")
    g = cotangent.astype(x.dtype)
    dx = jnp.einsum(f"{out},{y_indices}->{x_indices}", g, y, preferred_element_type=jnp.float32)
    dy = jnp.einsum(f"{x_indices},{out}->{y_indices}", x, g, preferred_element_type=jnp.float32)
    return dx.astype(x.dtype), dy.astype(y.dtype)


_low_precision_einsum.defvjp(_low_precision_einsum_forward, _low_precision_einsum_backward)


class Dense(nnx.Module):
    """``x @ kernel + bias``: ``(..., in) -> (..., out)``, computed in ``dtype`` and summed in float32.

    The bias is added to the float32 sums before the one cast to ``dtype``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        axes: tuple[str | None, str | None],
        *,
        use_bias: bool = True,
        dtype: DTypeLike = jnp.float32,
        param_dtype: DTypeLike = jnp.float32,
        stddev: float = 0.02,
        rngs: nnx.Rngs,
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.dtype = dtype
        # Keys drawn in nnx.Linear's order (kernel, then bias), so a seed builds the same weights.
        kernel_init = param_init(nnx.initializers.normal(stddev), *axes)
        self.kernel = nnx.Param(kernel_init(rngs.params(), (in_features, out_features), param_dtype))
        if use_bias:
            bias_init = param_init(nnx.initializers.zeros_init(), axes[1])
            self.bias = nnx.Param(bias_init(rngs.params(), (out_features,), param_dtype))
        else:
            self.bias = nnx.data(None)

    def __call__(self, x: Array) -> Array:
        kernel = checkpoint_name(self.kernel[...].astype(self.dtype), CAST_KERNEL)
        out = einsum("...i,io->...o", x, kernel, dtype=self.dtype, out_dtype=jnp.float32)
        if self.bias is not None:
            out = out + self.bias[...].astype(jnp.float32)
        return out.astype(self.dtype)
