"""Original facebookresearch/XLM checkpoints (``mlm_ende_1024.pth`` and friends).

A ``.pth`` file holds ``{"model": state_dict, "params": training parameters, "dico_id2word",
"dico_word2id", "dico_counts"}``. The state dict has transformers' ``XLMModel`` key names without
the ``transformer.`` prefix (maybe with DataParallel's ``module.``) plus ``pred_layer.proj.*``.
``params`` pickles numpy arrays and scalars, so the file is read with ``torch.load(weights_only=True)``
and exactly the numpy reconstruction functions allowed; any other pickled global is refused before
anything runs.
"""

import os
from pathlib import Path
from typing import Any

import numpy as np

from mluke_jax.hf.readers import require_torch

# The reference positions table of the original code (N_MAX_POSITIONS in xlm/model/transformer.py).
ORIGINAL_MAX_POSITIONS = 512
_SPECIAL_WORDS = 14  # <s> </s> <pad> <unk> <special0..9>: ids 0..13


def is_original_checkpoint(path: str | os.PathLike) -> bool:
    """A single ``.pth`` file (the original code's checkpoint format)."""
    return Path(path).is_file() and Path(path).suffix == ".pth"


def _numpy_globals() -> list:
    """The numpy functions and types a pickled array or scalar needs, under numpy 1 and 2 names."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1
        from numpy.core import multiarray
    allowed = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(multiarray._reconstruct, f"{module}._reconstruct"), (multiarray.scalar, f"{module}.scalar")]
    allowed += [type(np.dtype(t)) for t in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "b1", "U1", "O")]
    return allowed


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read the checkpoint without running pickled code (numpy reconstruction allowed)."""
    torch = require_torch(f"reading the original XLM checkpoint {path}")
    import pickle

    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path} holds pickled objects outside tensors and numpy arrays; it is not loaded because "
            f"unpickling them could run code ({str(e).splitlines()[0]})"
        ) from None
    if isinstance(data, dict) and "encoder" in data and "decoder" in data:
        raise ValueError(
            f"{path} is an encoder-decoder (translation) checkpoint; only encoder checkpoints (a 'model' entry) convert"
        )
    if not isinstance(data, dict) or "model" not in data or "params" not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{path} is not an original XLM checkpoint: expected the keys 'model' and 'params', found {keys}"
        )
    return data


def state_dict(data: dict[str, Any]) -> dict[str, np.ndarray]:
    """transformers key names: ``module.`` dropped, ``transformer.`` added except to ``pred_layer.*``."""
    out = {}
    for key, tensor in data["model"].items():
        key = key[len("module.") :] if key.startswith("module.") else key
        name = key if key.startswith("pred_layer.") else "transformer." + key
        out[name] = tensor.detach().cpu().numpy()
    return out


def _lang_maps(params: dict[str, Any]) -> dict[str, dict]:
    lang2id = params.get("lang2id")
    if lang2id is None and params.get("langs"):
        lang2id = {lang: i for i, lang in enumerate(sorted(params["langs"]))}
    if not lang2id:
        return {}
    lang2id = {str(k): int(v) for k, v in lang2id.items()}
    return {"lang2id": lang2id, "id2lang": {str(v): k for k, v in lang2id.items()}}


def hf_config(params: dict[str, Any], weights: dict[str, np.ndarray]) -> dict[str, Any]:
    """A transformers ``config.json`` dictionary derived from the training ``params``.

    Sizes come from the weights where both exist. ``causal`` is true for a model trained with
    causal LM steps only (``clm_steps`` set, ``mlm_steps`` empty): the transformers hub configs of
    the xlm-clm-* models say ``causal: false`` because the original params have no such key.
    """
    if params.get("asm"):
        raise ValueError("the checkpoint was trained with adaptive softmax (asm=True), which is not supported")
    if params.get("use_memory"):
        raise ValueError(
            "the checkpoint has product-key memory layers (use_memory=True), which transformers' XLM does not have"
        )
    if not params.get("encoder_only", True):
        raise ValueError(
            "the checkpoint is an encoder-decoder (translation) model; only encoders (encoder_only=True) convert"
        )
    vocab_size, emb_dim = weights["transformer.embeddings.weight"].shape
    n_layers = len({k.split(".")[2] for k in weights if k.startswith("transformer.attentions.")})
    clm, mlm = bool(params.get("clm_steps")), bool(params.get("mlm_steps"))
    config = {
        "model_type": "xlm",
        "architectures": ["XLMWithLMHeadModel" if "pred_layer.proj.bias" in weights else "XLMModel"],
        "vocab_size": int(vocab_size),
        "emb_dim": int(emb_dim),
        "n_layers": n_layers,
        "n_heads": int(params["n_heads"]),
        "dropout": float(params.get("dropout", 0.1)),
        "attention_dropout": float(params.get("attention_dropout", 0.1)),
        "gelu_activation": bool(params.get("gelu_activation", False)),  # train.py's default
        "sinusoidal_embeddings": bool(params.get("sinusoidal_embeddings", False)),
        "causal": clm and not mlm,
        "use_lang_emb": bool(params.get("use_lang_emb", True)),
        "n_langs": int(params.get("n_langs", 1)),
        "max_position_embeddings": int(weights["transformer.position_embeddings.weight"].shape[0]),
        "embed_init_std": float(emb_dim) ** -0.5,
        "layer_norm_eps": 1e-12,
        "bos_token_id": int(params.get("bos_index", 0)),
        "eos_token_id": int(params.get("eos_index", 1)),
        "pad_token_id": int(params.get("pad_index", 2)),
        "unk_index": int(params.get("unk_index", 3)),
        "mask_index": int(params.get("mask_index", 5)),
        **_lang_maps(params),
    }
    if config["n_langs"] > 1 and config["use_lang_emb"] and "transformer.lang_embeddings.weight" not in weights:
        raise ValueError(
            "params say the model has language embeddings (n_langs > 1, use_lang_emb) but the weights have no "
            "lang_embeddings"
        )
    return config


def vocab_json(data: dict[str, Any]) -> dict[str, int]:
    """transformers' ``vocab.json`` from ``dico_word2id``: fastBPE's ``@@`` continuation marker
    dropped, word-final pieces (past the 14 specials) suffixed ``</w>``."""
    word2id = data.get("dico_word2id")
    if not word2id:
        return {}
    return {
        (w + "</w>" if "@@" not in w and i >= _SPECIAL_WORDS else w.replace("@@", "")): int(i)
        for w, i in word2id.items()
    }
