"""Numerical details of the layers and the compiled forward: GELU, LayerNorm, masks, entity positions,
jit caching, the scanned stack, dropout, remat and bf16."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import mluke_jax
from helpers import TINY_LUKE, luke_inputs
from mluke_jax.activations import activation
from mluke_jax.layers.common import additive_mask, layer_norm
from mluke_jax.layers.embeddings import EntityEmbeddings, padding_aware_positions
from mluke_jax.modeling import _jitted_forward


@pytest.fixture(scope="module")
def config():
    return mluke_jax.LukeConfig(**TINY_LUKE)


@pytest.fixture(scope="module")
def model(config):
    return mluke_jax.LukeForMaskedLM.build(config)


def test_gelu_is_the_exact_erf_form():
    x = jnp.array([-3.0, -1.0, 0.5, 1.0, 2.5])
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in np.asarray(x)])
    np.testing.assert_allclose(np.asarray(activation("gelu")(x)), exact, rtol=1e-6, atol=1e-7)
    # the tanh approximation (JAX's default) differs by ~1e-4 here, more than the parity bar allows
    assert np.abs(np.asarray(jax.nn.gelu(x)) - exact).max() > 1e-4


def test_layer_norm_uses_config_epsilon_and_exact_variance():
    with nnx.use_eager_sharding(False):
        norm = layer_norm(64, 1e-5, rngs=nnx.Rngs(0))
        fast = nnx.LayerNorm(64, epsilon=1e-5, use_fast_variance=True, rngs=nnx.Rngs(0))
    assert norm.epsilon == 1e-5
    # A large mean: E[x^2] - E[x]^2 (Flax's default) cancels in float32; torch uses two passes.
    x = (300.0 + np.random.RandomState(0).randn(4, 64)).astype(np.float32)
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-5)
    exact_error = np.abs(np.asarray(norm(jnp.asarray(x))) - expected).max()
    fast_error = np.abs(np.asarray(fast(jnp.asarray(x))) - expected).max()
    assert exact_error < 1e-4 < fast_error


def test_positions_are_padding_aware_from_pad_plus_one():
    ids = jnp.array([[0, 5, 6, 2, 1, 1], [1, 1, 0, 5, 2, 1], [0, 5, 1, 6, 2, 1]])
    np.testing.assert_array_equal(
        np.asarray(padding_aware_positions(ids, 1)),
        [[2, 3, 4, 5, 1, 1], [1, 1, 2, 3, 4, 1], [2, 3, 1, 4, 5, 1]],
    )


def test_entity_position_embedding_is_the_mean_over_the_mention():
    with nnx.use_eager_sharding(False):
        emb = EntityEmbeddings(5, 4, 4, 10, 1, 1e-5, rngs=nnx.Rngs(0))
    table = np.asarray(emb.position_embeddings.embedding[...])
    positions = jnp.array([[[2, 3, 4, -1], [-1, -1, -1, -1]]])
    # the mean over positions 2..4; an entity with no positions gets a zero position vector
    ids = jnp.array([[1, 1]])
    types = jnp.zeros((1, 2), jnp.int32)
    entity_vector = np.asarray(emb.entity_embeddings.embedding[...])[1]
    type_vector = np.asarray(emb.token_type_embeddings.embedding[...])[0]
    sums = np.stack([entity_vector + table[2:5].mean(0) + type_vector, entity_vector + type_vector])
    out = np.asarray(emb(ids, positions, types))
    np.testing.assert_allclose(out[0], np.asarray(emb.norm(jnp.asarray(sums))), rtol=1e-5, atol=1e-6)
    assert np.isfinite(out).all()


def test_masks_are_read_as_booleans(model):
    """transformers 5 reads masks as booleans: any non-zero value attends."""
    inputs = luke_inputs(TINY_LUKE)
    scaled = dict(
        inputs, attention_mask=inputs["attention_mask"] * 2, entity_attention_mask=inputs["entity_attention_mask"] * 0.5
    )
    np.testing.assert_array_equal(np.asarray(model(**scaled).logits), np.asarray(model(**inputs).logits))


def test_fully_masked_rows_stay_finite(model):
    inputs = luke_inputs(TINY_LUKE)
    inputs["attention_mask"][0] = 0
    inputs["entity_attention_mask"][0] = 0
    out = model(**inputs, output_attentions=True)
    assert np.isfinite(np.asarray(out.logits)).all()
    # every key masked: a uniform distribution, as transformers' float32-minimum bias gives
    np.testing.assert_allclose(np.asarray(out.attentions[0][0]), 1.0 / 12, rtol=1e-5)
    bias = np.asarray(additive_mask(jnp.array([[1, 0]])))
    assert bias[0, 0, 0, 0] == 0 and bias[0, 0, 0, 1] == np.finfo(np.float32).min


def test_forward_compiles_once_per_shape(model):
    inputs = luke_inputs(TINY_LUKE)
    model(**inputs)
    before = _jitted_forward._cache_size()
    for _ in range(3):
        model(**inputs)
    assert _jitted_forward._cache_size() == before, "same shapes must reuse the compiled forward"
    model(**luke_inputs(TINY_LUKE, length=11))
    assert _jitted_forward._cache_size() == before + 1


def test_layers_are_scanned_so_the_program_does_not_grow_with_depth():
    def equations(layers):
        m = mluke_jax.LukeModel.build(mluke_jax.LukeConfig(**{**TINY_LUKE, "num_hidden_layers": layers}))
        graphdef, state = nnx.split(m)
        inputs = {k: jnp.asarray(v) for k, v in luke_inputs(TINY_LUKE).items()}
        jaxpr = jax.make_jaxpr(lambda s: nnx.merge(graphdef, s).forward(**inputs).last_hidden_state)(state)
        return len(jaxpr.jaxpr.eqns)

    assert equations(2) == equations(7)


def test_dropout_only_with_rngs(model):
    inputs = luke_inputs(TINY_LUKE)
    eval_a = np.asarray(model(**inputs).logits)
    eval_b = np.asarray(model(**inputs).logits)
    np.testing.assert_array_equal(eval_a, eval_b)
    train_a = np.asarray(model(**inputs, rngs=nnx.Rngs(dropout=1)).logits)
    train_b = np.asarray(model(**inputs, rngs=nnx.Rngs(dropout=1)).logits)
    train_c = np.asarray(model(**inputs, rngs=jax.random.key(2)).logits)
    np.testing.assert_array_equal(train_a, train_b)  # same key, same mask
    assert np.abs(train_a - eval_a).max() > 1e-3 and np.abs(train_a - train_c).max() > 1e-3
    np.testing.assert_array_equal(np.asarray(model(**inputs, rngs=7, deterministic=True).logits), eval_a)
    with pytest.raises(ValueError, match="deterministic=False needs rngs"):
        model(**inputs, deterministic=False)


def test_remat_gives_the_same_values_and_gradients(config):
    inputs = {k: jnp.asarray(v) for k, v in luke_inputs(TINY_LUKE).items()}
    plain = mluke_jax.LukeForMaskedLM.build(config)
    remat = mluke_jax.LukeForMaskedLM.build(config.replace(remat=True))

    def loss(m):
        return jnp.mean(m(**inputs).logits ** 2)

    graphdef, state = nnx.split(remat)
    program = str(jax.make_jaxpr(jax.grad(lambda s: loss(nnx.merge(graphdef, s))))(state))
    assert "remat" in program or "checkpoint" in program, "remat=True must put a checkpoint in the program"
    g_plain = nnx.grad(loss)(plain)
    g_remat = nnx.grad(loss)(remat)
    np.testing.assert_allclose(loss(plain), loss(remat), rtol=1e-6)
    for a, b in zip(jax.tree.leaves(g_plain), jax.tree.leaves(g_remat)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_bfloat16_compute_with_float32_parameters(config):
    inputs = luke_inputs(TINY_LUKE)
    fp32 = mluke_jax.LukeForMaskedLM.build(config)
    bf16 = mluke_jax.LukeForMaskedLM.build(config.replace(dtype="bfloat16"))
    assert bf16.lm_head.dense.kernel[...].dtype == jnp.float32
    a = np.asarray(fp32(**inputs).logits)
    out = bf16(**inputs, output_attentions=True)
    assert out.logits.dtype == jnp.bfloat16 and out.attentions[0].dtype == jnp.float32
    # ~3 significant digits through 2 layers; the logits are O(0.1) for this random model
    np.testing.assert_allclose(np.asarray(out.logits, np.float32), a, atol=2e-2)
