"""TPU and GPU readiness without the hardware: the compiled programs our users run lower for both.

``jax.export`` lowers on this CPU for other platforms. Every model class's jitted forward, one
training step (loss, gradients, clipping, AdamW update) of each family and the generation loop
are exported for TPU and CUDA, in float32 and bfloat16, and the lowered modules must hold no host
callback, no side effect and no custom call outside the few that XLA itself defines for every
platform: nothing that runs only on CPU.
"""

import re

import jax
import numpy as np
import pytest
from flax import nnx
from jax import export

import mluke_jax
from helpers import TINY_LUKE, TINY_XLM, luke_task_inputs, luke_task_labels, xlm_task_inputs, xlm_task_labels
from mluke_jax.generation import _decode
from mluke_jax.modeling import _jitted_forward
from mluke_jax.train import OptimizerConfig, Trainer

PLATFORMS = ("tpu", "cuda")
# Custom calls XLA's SPMD partitioner and every backend understand; anything else (a host callback,
# a LAPACK or DUCC kernel, a CPU-only FFI target) would fail or fall back on a TPU/GPU.
PORTABLE_CUSTOM_CALLS = {"Sharding", "SPMDFullToShardShape", "SPMDShardToFullShape"}
CUSTOM_CALL = re.compile(r"stablehlo\.custom_call @([\w.$-]+)")

LUKE_CLASSES = sorted(name for name in mluke_jax.ARCHITECTURES if name.startswith("Luke"))
XLM_CLASSES = sorted(name for name in mluke_jax.ARCHITECTURES if name.startswith("XLM"))


def check_portable(exported: export.Exported) -> None:
    assert tuple(exported.platforms) == PLATFORMS
    assert not exported.ordered_effects and not exported.unordered_effects, (
        "the program has side effects (a host callback?)"
    )
    text = exported.mlir_module()
    calls = set(CUSTOM_CALL.findall(text))
    assert calls <= PORTABLE_CUSTOM_CALLS, (
        f"custom calls that may exist only on CPU: {sorted(calls - PORTABLE_CUSTOM_CALLS)}"
    )
    assert "callback" not in text


def model_and_inputs(name: str, dtype: str):
    if name.startswith("Luke"):
        config = mluke_jax.LukeConfig(**TINY_LUKE, dtype=dtype)
        inputs = luke_task_inputs(name, config.to_hf_dict())
        labels = luke_task_labels(name, inputs, config.to_hf_dict(), np.random.RandomState(0))
    else:
        config = mluke_jax.XLMConfig(**TINY_XLM, dtype=dtype)
        inputs = xlm_task_inputs(name, config.to_hf_dict())
        labels = xlm_task_labels(name, inputs, config.to_hf_dict())
    return mluke_jax.ARCHITECTURES[name].build(config, seed=0), inputs, labels


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", LUKE_CLASSES + XLM_CLASSES)
def test_forward_exports_for_tpu_and_gpu(name, dtype):
    model, inputs, _ = model_and_inputs(name, dtype)
    graphdef, state = nnx.split(model)
    arrays = model.prepare_inputs(dict(inputs))
    exported = export.export(_jitted_forward, platforms=PLATFORMS)(
        graphdef, state, arrays, None, output_attentions=True, output_hidden_states=True
    )
    check_portable(exported)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", ["LukeForEntitySpanClassification", "XLMWithLMHeadModel"])
def test_training_step_exports_for_tpu_and_gpu(name, dtype):
    model, inputs, labels = model_and_inputs(name, dtype)
    trainer = Trainer(model, OptimizerConfig(learning_rate=1e-3, warmup_steps=1, total_steps=10))  # dropout on
    exported = export.export(trainer._train, platforms=PLATFORMS)(trainer.state, trainer.prepare({**inputs, **labels}))
    check_portable(exported)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("causal", [True, False], ids=["cached", "re-encoding"])
def test_generation_exports_for_tpu_and_gpu(causal, dtype):
    config = mluke_jax.XLMConfig(**{**TINY_XLM, "causal": causal}, dtype=dtype)
    graphdef, state = nnx.split(mluke_jax.XLMWithLMHeadModel.build(config, seed=0))
    prompt = np.array([[0, 5, 6, 7], [0, 8, 9, 10]], np.int32)
    langs = np.ones((2, 9), np.int32)
    for sampling in (None, (0.8, 5, 0.9)):  # greedy, and sampling with temperature, top-k and top-p
        exported = export.export(_decode, platforms=PLATFORMS)(
            graphdef,
            state,
            prompt,
            langs,
            jax.random.key(0),
            prompt_length=4,
            max_new_tokens=5,
            cached=causal,
            sampling=sampling,
            mask_id=config.mask_token_id,
            eos_id=1,
            pad_id=config.pad_token_id,
        )
        check_portable(exported)
