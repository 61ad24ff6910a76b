"""Training parity with PyTorch: loss and the gradient of every parameter, and AdamW updates.

The PyTorch gradients are written as a checkpoint (each parameter's ``.grad`` under its name) and
converted with our converter, so they land on our parameter names and layouts.
"""

import numpy as np
import pytest

from helpers import hf_luke, hf_xlm, luke_inputs, save_hf, to_torch, xlm_inputs

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def torch_gradients(model, directory):
    """The ``.grad`` of every parameter, converted onto our parameter names."""
    from safetensors.torch import save_file

    from mluke_jax.hf import convert_in_memory

    directory.mkdir(parents=True, exist_ok=True)
    model.config.architectures = [type(model).__name__]
    model.config.save_pretrained(directory)
    named = dict(model.named_parameters(remove_duplicate=False))
    grads = {}
    for key in model.state_dict():
        if key in named:
            grad = named[key].grad
            grads[key] = (torch.zeros_like(named[key]) if grad is None else grad).detach().clone().contiguous()
    save_file(grads, directory / "model.safetensors", metadata={"format": "pt"})
    return convert_in_memory(directory, progress=False).params


def flat(state) -> dict[str, np.ndarray]:
    from flax import nnx

    return {
        ".".join(map(str, path)): np.asarray(var.get_value() if hasattr(var, "get_value") else var)
        for path, var in nnx.to_flat_state(state)
    }


def compare_gradients(ours: dict, theirs: dict, atol: float = 1e-4, rtol: float = 1e-3) -> float:
    worst = 0.0
    assert ours, "no gradients"
    for name, grad in ours.items():
        assert name in theirs, f"no PyTorch gradient for {name}"
        expected = theirs[name].astype(np.float32)
        assert grad.shape == expected.shape, name
        diff = float(np.abs(grad - expected).max())
        bound = atol + rtol * float(np.abs(expected).max())
        assert diff <= bound, f"{name}: gradient differs by {diff:.3g} (bound {bound:.3g})"
        worst = max(worst, diff)
    return worst


def luke_case(architecture, rs):
    config = hf_luke(architecture).config.to_dict()
    inputs = luke_inputs(config, batch=3, length=9, entities=3)
    inputs["entity_ids"][0, 1] = 0  # entity row 0: transformers' padding_idx (-lite's [MASK])
    if architecture == "LukeForMaskedLM":
        labels = np.where(rs.rand(3, 9) < 0.4, rs.randint(3, config["vocab_size"], (3, 9)), -100)
        labels[0, 1] = 5
        entity_labels = np.where(rs.rand(3, 3) < 0.6, rs.randint(0, config["entity_vocab_size"], (3, 3)), -100)
        return inputs, dict(labels=labels, entity_labels=entity_labels)
    inputs["entity_start_positions"] = np.array([[1, 4, 2], [1, 4, 2], [3, 6, 4]])
    inputs["entity_end_positions"] = np.array([[3, 4, 3], [3, 4, 3], [5, 6, 5]])
    return inputs, dict(labels=rs.randint(0, 2, (3, 3)))


@pytest.mark.parametrize(
    "family, architecture",
    [
        ("luke", "LukeForEntitySpanClassification"),
        ("luke", "LukeForMaskedLM"),
        ("xlm", "XLMWithLMHeadModel"),
        ("xlm", "XLMForSequenceClassification"),
    ],
)
def test_loss_and_every_gradient_match_pytorch(family, architecture, tmp_path):
    import mluke_jax
    from mluke_jax.train import loss_and_gradients

    rs = np.random.RandomState(0)
    if family == "luke":
        reference = hf_luke(architecture)
        inputs, labels = luke_case(architecture, rs)
    else:
        extra = dict(sinusoidal_embeddings=True) if architecture == "XLMForSequenceClassification" else {}
        reference = hf_xlm(architecture, **extra)
        inputs = xlm_inputs(reference.config.to_dict(), batch=3, length=9)
        if architecture == "XLMWithLMHeadModel":
            labels = dict(
                labels=np.where(rs.rand(3, 9) < 0.5, rs.randint(4, reference.config.vocab_size, (3, 9)), -100)
            )
        else:
            labels = dict(labels=rs.randint(0, 2, (3,)))
    reference.train(False)
    out = reference(**to_torch(inputs), **to_torch(labels))
    out.loss.backward()
    theirs = torch_gradients(reference, tmp_path / "grads")

    model = getattr(mluke_jax, architecture).from_pretrained(save_hf(reference, tmp_path / "model"))
    loss, grads = loss_and_gradients(model, {**inputs, **labels})
    assert abs(float(loss) - float(out.loss.detach())) < 1e-5
    ours = flat(grads)
    if family == "xlm" and architecture == "XLMForSequenceClassification":
        assert "transformer.embeddings.position_embeddings.embedding" not in ours  # sinusoidal: frozen
    worst = compare_gradients(ours, theirs)
    print(
        f"{architecture}: loss diff {abs(float(loss) - float(out.loss.detach())):.2e}, worst gradient diff {worst:.2e} "
        f"over {len(ours)} parameters"
    )
    assert worst < 1e-4

    # padding rows: lookups never train them (PyTorch's padding_idx) ...
    if architecture == "LukeForEntitySpanClassification":
        assert not ours["luke.embeddings.word_embeddings.embedding"][model.config.pad_token_id].any()
        assert not ours["luke.embeddings.position_embeddings.embedding"][model.config.pad_token_id].any()
        assert not ours["luke.entity_embeddings.entity_embeddings.embedding"][0].any()
    # ... but a tied decoder does, in both (XLM's LM head is tied in transformers 5; LUKE's is not)
    if architecture == "XLMWithLMHeadModel":
        assert not model.config.untied_decoder
        assert ours["transformer.embeddings.word_embeddings.embedding"][model.config.pad_token_id].any()


def test_entity_row_zero_can_be_trained(tmp_path):
    """``entity_padding_idx=None`` trains -lite's [MASK] row (transformers never does)."""
    import mluke_jax
    from mluke_jax.train import loss_and_gradients

    rs = np.random.RandomState(0)
    reference = hf_luke("LukeForEntitySpanClassification")
    inputs, labels = luke_case("LukeForEntitySpanClassification", rs)
    directory = save_hf(reference, tmp_path / "model")
    for padding_idx, trained in ((0, False), (None, True)):
        model = mluke_jax.LukeForEntitySpanClassification.from_pretrained(directory, entity_padding_idx=padding_idx)
        _, grads = loss_and_gradients(model, {**inputs, **labels})
        assert bool(flat(grads)["luke.entity_embeddings.entity_embeddings.embedding"][0].any()) is trained


def torch_adamw_steps(model, batches, lr, warmup, total, accumulation=1, max_norm=1.0, weight_decay=0.01, eps=1e-6):
    """transformers' recipe in PyTorch: AdamW, no decay on biases and LayerNorm weights, linear
    warm-up/decay, clipping, gradient accumulation (mean of the micro-batch losses)."""
    from transformers import get_linear_schedule_with_warmup

    norm_weights = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.LayerNorm)}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if name.endswith("bias") or id(p) in norm_weights else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        eps=eps,
        betas=(0.9, 0.999),
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
    losses = []
    for i, batch in enumerate(batches):
        loss = model(**to_torch(batch)).loss
        losses.append(float(loss))
        (loss / accumulation).backward()
        if (i + 1) % accumulation == 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    return losses


@pytest.mark.parametrize("family, accumulation", [("luke", 1), ("xlm", 2)])
def test_adamw_training_matches_pytorch(family, accumulation, tmp_path):
    """A few optimiser steps (warm-up, decay, weight decay masks, clipping, accumulation): the same
    losses and parameters as PyTorch's AdamW with transformers' schedule."""
    from flax import nnx

    import mluke_jax
    from mluke_jax.train import OptimizerConfig, Trainer

    rs = np.random.RandomState(1)
    if family == "luke":
        reference = hf_luke("LukeForEntitySpanClassification")
        batches = []
        for seed in range(4):
            inputs, labels = luke_case("LukeForEntitySpanClassification", np.random.RandomState(seed))
            batches.append({**inputs, **labels})
        architecture = "LukeForEntitySpanClassification"
    else:
        reference = hf_xlm("XLMForSequenceClassification")
        batches = [
            {**xlm_inputs(reference.config.to_dict(), batch=3, length=9, seed=s), "labels": rs.randint(0, 2, (3,))}
            for s in range(4)
        ]
        architecture = "XLMForSequenceClassification"
    directory = save_hf(reference, tmp_path / "model")
    total = len(batches) // accumulation
    settings = dict(lr=1e-3, warmup=1, total=total + 1, accumulation=accumulation)
    reference.train(False)  # dropout off on both sides
    torch_losses = torch_adamw_steps(reference, batches, **settings)
    trained = converted_parameters(reference, tmp_path / "after")

    model = getattr(mluke_jax, architecture).from_pretrained(directory)
    config = OptimizerConfig(
        learning_rate=1e-3, warmup_steps=1, total_steps=total + 1, accumulation_steps=accumulation, max_grad_norm=1.0
    )
    trainer = Trainer(model, config, dropout=False)
    losses = [float(trainer.train_step(batch)["loss"]) for batch in batches]
    np.testing.assert_allclose(losses, torch_losses, atol=2e-5)
    ours = flat(nnx.state(trainer.model, nnx.Param))
    worst = max(float(np.abs(ours[k] - trained[k]).max()) for k in ours)
    print(
        f"{architecture} AdamW x{len(batches)} (accumulation {accumulation}): loss diff "
        f"{np.abs(np.array(losses) - torch_losses).max():.2e}, parameter diff {worst:.2e}"
    )
    assert worst < 1e-4, worst
    assert trainer.step == len(batches)


def converted_parameters(model, directory):
    """The model's current parameters on our names (through the converter)."""
    from mluke_jax.hf import convert_in_memory

    save_hf(model, directory, fmt="safetensors")
    return convert_in_memory(directory, progress=False).params
