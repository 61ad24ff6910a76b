"""``python -m convert --to-hf SRC DST``: a converted or fine-tuned mluke-jax checkpoint back to a
transformers directory (``model.safetensors`` + ``config.json`` + the tokenizer files).

The conversion tables are run backwards: every rule's transform (identity or transpose) is its own
inverse, stacked layers are split again, and every alias a rule reads (``lm_head.bias`` and
``lm_head.decoder.bias``) gets the value. Decoders tied to an embedding table in mluke-jax are
written out as copies of it, since transformers 5 does not tie them for every class. The
transformers model of the architecture is built from the config and filled with ``load_state_dict
(strict=True)``, then written by its own ``save_pretrained``, so transformers loads the result
without missing or unexpected keys. Needs the ``torch`` extra.
"""

import sys
from pathlib import Path

import numpy as np

from mluke_jax import checkpoint
from mluke_jax.paths import resolve

# transformers key -> the key whose value it takes when mluke-jax ties it (no parameter of its own)
TIED = {
    "luke": {
        "lm_head.decoder.weight": "luke.embeddings.word_embeddings.weight",
        "entity_predictions.decoder.weight": "luke.entity_embeddings.entity_embeddings.weight",
    },
    "xlm": {"pred_layer.proj.weight": "transformer.embeddings.weight"},
}


def hf_state(params: dict[str, np.ndarray], family, architecture: str, num_layers: int) -> dict[str, np.ndarray]:
    """Our parameters (dotted paths) as transformers keys and layouts."""
    from mluke_jax.architectures import architecture_class

    prefix = architecture_class(architecture).encoder_prefix()  # as transformers' keys
    out: dict[str, np.ndarray] = {}
    for rule in family.rules_for(architecture, prefix):
        if rule.target not in params:
            continue  # a tied decoder, or a structure this model does not have
        value = params[rule.target]
        for template in rule.sources:
            if rule.stacked:
                for i in range(num_layers):
                    out[template.format(i=i)] = np.ascontiguousarray(rule.transform.apply(value[i]))
            else:
                out[template] = np.ascontiguousarray(rule.transform.apply(value))
    return out


def export(src: str | Path, dst: str | Path, *, overwrite: bool = False, progress: bool = True) -> dict:
    """Write the transformers directory ``dst`` from the mluke-jax checkpoint ``src``."""
    from mluke_jax.hf.conversion import FAMILIES
    from mluke_jax.hf.readers import require_torch

    require_torch("writing a transformers checkpoint")
    import torch
    import transformers

    src = resolve(src)
    if not (src / checkpoint.METADATA_FILE).is_file():
        raise ValueError(f"{src} is not a mluke-jax checkpoint (no {checkpoint.METADATA_FILE})")
    metadata = checkpoint.read_metadata(src)
    hf_config = checkpoint.read_config(src)
    family = FAMILIES[hf_config["model_type"]]
    architecture = metadata["architecture"]
    if not hasattr(transformers, architecture):
        raise ValueError(f"transformers has no class {architecture}")

    def say(message: str) -> None:
        if progress:
            print(message, file=sys.stderr, flush=True)

    say(f"reading {src} ...")
    params = checkpoint.read_params(src, np.float32, metadata)  # written in float32 whatever the stored dtype
    config = family.CONFIG_CLASS.from_hf_dict(hf_config, **metadata.get("structure", {}))
    values = hf_state(params, family, architecture, config.num_hidden_layers)
    model_class = getattr(transformers, architecture)
    model = model_class(model_class.config_class.from_dict({**hf_config, "architectures": [architecture]}))
    expected = model.state_dict()
    tied = TIED[hf_config["model_type"]]
    state, dropped = {}, sorted(set(values) - set(expected))
    parameters = dict(model.named_parameters(remove_duplicate=False))
    for key, tensor in expected.items():
        source = key if key in values else tied.get(key)
        if source in values:
            array = values[source]
            if tuple(array.shape) != tuple(tensor.shape):
                raise ValueError(
                    f"{key}: mluke-jax gives shape {tuple(array.shape)}, transformers' {architecture} expects "
                    f"{tuple(tensor.shape)}"
                )
            state[key] = torch.from_numpy(np.array(array, dtype=np.float32)).to(tensor.dtype)
        elif key not in parameters:
            state[key] = tensor  # a buffer (position_ids)
        else:
            raise ValueError(f"no mluke-jax parameter gives transformers' {key}")
    if dropped:
        say(f"not written (transformers' {architecture} with this config has no such weights): {dropped}")
    model.load_state_dict(state, strict=True)
    with checkpoint.atomic_directory(dst, overwrite=overwrite, last="config.json") as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        copied = checkpoint.copy_tokenizer_files(src, tmp)
    say(f"wrote {dst}")
    return {"architecture": architecture, "tensors": len(state), "dropped": dropped, "tokenizer_files": copied}
