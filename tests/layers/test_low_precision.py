"""bfloat16 compute: float32 accumulation in every matmul, forward and backward, on both families.

The compiled programs are read, not timed: a bf16 x bf16 -> bf16 dot (bf16 accumulation, XLA:CPU's
slow path) must not appear anywhere, and the backward pass must multiply bf16 operands (not
float32 copies of them) in every unbatched product.
"""

import re
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import mluke_jax
from helpers import TINY_LUKE, TINY_XLM, luke_inputs, luke_task_labels, xlm_inputs, xlm_task_labels
from mluke_jax.layers.linear import einsum
from mluke_jax.train.trainer import TRAINABLE, _value_and_grad

DOT = re.compile(r"stablehlo\.(?:dot_general|convolution).*: \((tensor<[^>]*>), (tensor<[^>]*>)\) -> (tensor<[^>]*>)")


def dot_types(hlo: str) -> Counter:
    """``(lhs, rhs, out)`` element types of every dot / convolution of a StableHLO module."""
    kinds = Counter()
    for operands in DOT.findall(hlo):
        kinds[tuple(t.rsplit("x", 1)[-1].rstrip(">") for t in operands)] += 1
    return kinds


def forward_hlo(model, inputs: dict) -> str:
    graphdef, state = nnx.split(model)
    arrays = model.prepare_inputs(dict(inputs))

    def forward(state, arrays):
        return nnx.merge(graphdef, state).forward(
            **arrays, dropout_key=None, output_attentions=False, output_hidden_states=False
        )

    return jax.jit(forward).lower(state, arrays).as_text()


def training_hlo(model, batch: dict) -> str:
    graphdef, params, rest = nnx.split(model, TRAINABLE, ...)
    return _value_and_grad.lower(graphdef, params, rest, model.prepare_inputs(dict(batch)), jax.random.key(0)).as_text()


def luke_case():
    config = mluke_jax.LukeConfig(**TINY_LUKE)
    inputs = luke_inputs(config.to_hf_dict(), seed=0)
    labels = luke_task_labels("LukeForMaskedLM", inputs, config.to_hf_dict(), np.random.RandomState(0))
    return (
        mluke_jax.LukeForMaskedLM,
        config,
        inputs,
        labels,
        ("logits", "entity_logits", "hidden_states", "entity_hidden_states"),
    )


def xlm_case():
    config = mluke_jax.XLMConfig(**TINY_XLM)
    inputs = xlm_inputs(config.to_hf_dict(), seed=0)
    return (
        mluke_jax.XLMWithLMHeadModel,
        config,
        inputs,
        xlm_task_labels("XLMWithLMHeadModel", inputs, config.to_hf_dict()),
        ("logits", "hidden_states"),
    )


CASES = {"luke": luke_case, "xlm": xlm_case}


@pytest.mark.parametrize("family", CASES)
def test_bf16_forward_accumulates_in_float32_and_stays_close_to_float32(family):
    cls, config, inputs, _, fields = CASES[family]()
    fp32 = cls.build(config, seed=0)
    bf16 = cls.build(config.replace(dtype="bfloat16"), seed=0)
    kinds = dot_types(forward_hlo(bf16, inputs))
    assert kinds, "no dot found: the pattern no longer matches the StableHLO text"
    assert all(out == "f32" for _, _, out in kinds), f"dots with a low-precision result (bf16 accumulation): {kinds}"
    assert kinds[("bf16", "bf16", "f32")] > 0, kinds  # the dense layers and decoders multiply bf16 operands
    out32 = fp32(**inputs, output_hidden_states=True)
    out16 = bf16(**inputs, output_hidden_states=True)
    # hidden states come out of a float32 LayerNorm (the residual stream stays float32), logits in bf16
    assert out16.hidden_states[-1].dtype == jnp.float32 and out16.logits.dtype == jnp.bfloat16
    for field in fields:
        a, b = getattr(out32, field), getattr(out16, field)
        a, b = (a[-1], b[-1]) if isinstance(a, tuple) else (a, b)  # the last layer's states
        a, b = np.asarray(a), np.asarray(b, np.float32)
        # bf16 keeps 8 bits of mantissa (relative step 2^-8); through 2 layers of this random
        # model the outputs are within 2% of their largest value
        scale = max(float(np.abs(a).max()), 1e-3)
        assert np.abs(a - b).max() <= 2e-2 * scale, (field, float(np.abs(a - b).max()), scale)


@pytest.mark.parametrize("family", CASES)
def test_bf16_training_step_multiplies_bf16_operands_forward_and_backward(family):
    cls, config, inputs, labels, _ = CASES[family]()
    model = cls.build(config.replace(dtype="bfloat16"), seed=0)
    kinds = dot_types(training_hlo(model, {**inputs, **labels}))
    assert all(out == "f32" for _, _, out in kinds), kinds
    # Only the batched attention products run on float32 operands, and only on CPU (see
    # mluke_jax.layers.linear): 3 per layer forward (scores of words and of entities, context; 2
    # without entities) and twice as many backward, inside the one scanned layer body.
    batched = 9 if family == "luke" else 6
    assert kinds[("f32", "f32", "f32")] == batched, kinds
    assert kinds[("bf16", "bf16", "f32")] > batched, kinds


SUBSCRIPTS = [
    ("...i,io->...o", (2, 5, 16), (16, 12)),  # dense
    ("...d,vd->...v", (2, 5, 16), (37, 16)),  # tied decoder
    ("BTHK,BSHK->BHTS", (2, 5, 3, 8), (2, 5, 3, 8)),  # attention scores
    ("BTHK,BSHK->BHTS", (2, 1, 3, 8), (2, 7, 3, 8)),  # one decoding position against a cache
    ("BHTS,BSHK->BTHK", (2, 3, 5, 5), (2, 5, 3, 8)),  # attention context
]


@pytest.mark.parametrize("subscripts,x_shape,y_shape", SUBSCRIPTS)
def test_low_precision_einsum_runs_and_its_gradients_match_float32(subscripts, x_shape, y_shape):
    kx, ky = jax.random.split(jax.random.key(0))
    # values exactly representable in bf16, so both runs multiply the same numbers
    x = jax.random.normal(kx, x_shape).astype(jnp.bfloat16).astype(jnp.float32)
    y = jax.random.normal(ky, y_shape).astype(jnp.bfloat16).astype(jnp.float32)

    def loss(dtype):
        return lambda a, b: (einsum(subscripts, a, b, dtype=dtype, out_dtype=jnp.float32) ** 2).sum()

    value16, grads16 = jax.jit(jax.value_and_grad(loss(jnp.bfloat16), argnums=(0, 1)))(x, y)
    value32, grads32 = jax.value_and_grad(loss(jnp.float32), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(float(value16), float(value32), rtol=1e-5)  # exact products, float32 sums
    for g16, g32 in zip(grads16, grads32):
        assert g16.dtype == jnp.float32 and g16.shape == g32.shape
        # the cotangent is rounded to bf16 (relative 2^-9) before the backward products
        assert float(jnp.abs(g16 - g32).max()) <= 8e-3 * float(jnp.abs(g32).max())


def test_bf16_generation_with_a_cache_runs_on_cpu():
    # One query position per decoding step: a batched product XLA:CPU cannot run in bf16 -> f32.
    config = mluke_jax.XLMConfig(**{**TINY_XLM, "causal": True}, dtype="bfloat16")
    model = mluke_jax.XLMWithLMHeadModel.build(config, seed=0)
    prompt = np.array([[0, 5, 6, 7]])
    tokens = model.generate(prompt, max_new_tokens=5, eos_token_id=None)
    assert tokens.shape == (1, 9) and (tokens[:, :4] == prompt).all()
    fp32 = mluke_jax.XLMWithLMHeadModel.build(config.replace(dtype="float32"), seed=0)
    assert (fp32.generate(prompt, max_new_tokens=5, eos_token_id=None) == tokens).mean() >= 0.5
