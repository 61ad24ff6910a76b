"""Dropout masks from the keyed counter hash: right keep rate, no structure along any axis, keys
independent of each other, deterministic per key, element-wise in the compiled program.

Statistical bounds are 6 standard deviations of the quantity under the null hypothesis (fair,
independent bits), so a correct generator fails one with probability ~1e-9, and a biased or
correlated one (e.g. a mask that repeats along an axis, or two keys giving one mask) fails them all.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mluke_jax.layers.dropout import dropout, fold_key, keep_mask, random_bits

SIGMAS = 6.0


def uniforms(key, shape):
    return np.asarray(random_bits(key, shape)).astype(np.float64) / 2**32


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9, 0.0125])
@pytest.mark.parametrize(
    "make_key", [lambda: jax.random.key(0), lambda: jax.random.PRNGKey(7), lambda: jax.random.key(3, impl="rbg")]
)
def test_keep_rate(rate, make_key):
    mask = np.asarray(keep_mask(make_key(), rate, (8, 128, 1024)))
    n = mask.size
    assert abs(mask.mean() - (1 - rate)) < SIGMAS * np.sqrt(rate * (1 - rate) / n), mask.mean()


def test_bits_are_uniform_in_high_and_low_bytes():
    bits = np.asarray(random_bits(jax.random.key(1), (1 << 20,)))
    for byte in (bits >> 24, bits & 0xFF, (bits >> 12) & 0xFF):
        counts = np.bincount(byte.astype(np.int64), minlength=256)
        expected = bits.size / 256
        chi2 = ((counts - expected) ** 2 / expected).sum()  # 255 degrees of freedom: mean 255, sd ~22.6
        assert abs(chi2 - 255) < SIGMAS * np.sqrt(2 * 255), chi2


@pytest.mark.parametrize("shape", [(8, 8, 128, 128), (8, 128, 1024)])
def test_no_correlation_along_any_axis(shape):
    u = uniforms(jax.random.key(2), shape) - 0.5
    bound = SIGMAS / np.sqrt(u.size / 2)  # sd of a sample correlation over ~size/2 pairs
    for axis in range(u.ndim):
        for lag in (1, 2, 3):
            if u.shape[axis] > lag:
                a = np.take(u, np.arange(u.shape[axis] - lag), axis=axis)
                b = np.take(u, np.arange(lag, u.shape[axis]), axis=axis)
                corr = (a * b).mean() / (a.std() * b.std())
                assert abs(corr) < bound, (axis, lag, corr)
    flat = u.reshape(-1)
    for lag in (1 << 7, 1 << 10, 1 << 14, 1 << 16):  # power-of-two strides, where weak hashes repeat
        corr = (flat[:-lag] * flat[lag:]).mean() / flat.var()
        assert abs(corr) < SIGMAS / np.sqrt(flat.size - lag), (lag, corr)


def test_row_and_column_keep_rates_vary_as_binomials():
    rate, mask = 0.1, np.asarray(keep_mask(jax.random.key(4), 0.1, (1024, 1024)))
    for means in (mask.mean(axis=0), mask.mean(axis=1)):
        # the spread of 1024 row (column) rates is the binomial one: not constant rows, not clumped
        ratio = means.var() * 1024 / (rate * (1 - rate))
        assert abs(ratio - 1) < SIGMAS * np.sqrt(2 / 1023), ratio


def test_keys_give_independent_masks_and_a_key_always_the_same():
    shape, rate = (256, 1024), 0.1
    base = jax.random.key(0)
    keys = [
        base,
        jax.random.key(1),
        fold_key(base, 1),
        fold_key(base, 2),
        *jax.random.split(jax.random.key(9), 2),
        jax.random.fold_in(fold_key(base, 1), 0),
    ]
    assert len({tuple(np.asarray(jax.random.key_data(k))) for k in keys}) == len(keys)
    masks = [np.asarray(keep_mask(k, rate, shape)) for k in keys]
    n = masks[0].size
    agree = rate**2 + (1 - rate) ** 2  # probability that two independent masks agree at a position
    for i in range(len(masks)):
        assert np.array_equal(masks[i], np.asarray(keep_mask(keys[i], rate, shape)))
        for j in range(i):
            observed = (masks[i] == masks[j]).mean()
            assert abs(observed - agree) < SIGMAS * np.sqrt(agree * (1 - agree) / n), (i, j, observed)
    # consecutive integer seeds, the case where a hash of a plain counter would overlap
    streams = np.stack([uniforms(jax.random.key(s), (4096,)) for s in range(64)]) - 0.5
    corr = np.corrcoef(streams)[np.triu_indices(64, 1)]
    assert np.abs(corr).max() < SIGMAS / np.sqrt(4096), np.abs(corr).max()


def test_dropout_scales_kept_values_and_is_the_identity_without_a_key():
    x = jnp.asarray(np.random.RandomState(0).randn(64, 512), jnp.float32)
    key = jax.random.key(5)
    y = np.asarray(dropout(x, 0.25, key))
    kept = np.asarray(keep_mask(key, 0.25, x.shape))
    np.testing.assert_allclose(y[kept], np.asarray(x)[kept] / 0.75, rtol=1e-6)
    assert (y[~kept] == 0).all()
    assert dropout(x, 0.25, None) is x and dropout(x, 0.0, key) is x
    assert (np.asarray(dropout(x, 1.0, key)) == 0).all()
    assert dropout(x.astype(jnp.bfloat16), 0.1, key).dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="dropout rate must be in"):
        dropout(x, 1.5, key)


def test_mask_is_element_wise_in_the_compiled_program():
    """No loop, no RNG op, no custom call: XLA fuses the mask into the select that applies it (the
    reason for this generator; jax.random.bernoulli lowers threefry with a loop on CPU)."""
    fn = jax.jit(lambda x, key: dropout(x, 0.1, key))
    x = jnp.ones((8, 128, 1024), jnp.bfloat16)
    text = fn.lower(x, jax.random.key(0)).compile().as_text()
    for op in ("while", "rng", "custom-call", "threefry"):
        assert op not in text, op
    body = [line for line in text.splitlines() if " fusion(" in line or " = " in line and "ROOT" in line]
    assert sum(" fusion(" in line for line in body) == 1, "\n".join(body)
