"""Model configurations, read from and written to Hugging Face ``config.json`` dictionaries.

Field names equal the ``config.json`` keys. A handful of runtime knobs (compute dtype, parameter
dtype, rematerialisation, and the *structure* flags a converted checkpoint needs) live on the same
dataclass but are never written to the HF dictionary.
"""

import dataclasses
import json
import os
from typing import Any, ClassVar, Mapping

import jax.numpy as jnp

from mluke_jax.layers.common import ACTIVATIONS

# Keys every transformers ``PretrainedConfig`` may carry (v4 and v5 ``to_dict`` output, and the
# generation defaults v4 wrote into model configs). They do not change an encoder's maths.
_GENERIC_HF_KEYS = frozenset(
    """
    _name_or_path architectures transformers_version model_type torch_dtype dtype use_bfloat16
    return_dict output_hidden_states output_attentions torchscript tf_legacy_loss
    chunk_size_feed_forward is_encoder_decoder tie_encoder_decoder cross_attention_hidden_size
    finetuning_task tokenizer_class prefix bos_token_id eos_token_id sep_token_id
    decoder_start_token_id task_specific_params problem_type label2id initializer_range
    max_length min_length do_sample early_stopping num_beams num_beam_groups diversity_penalty
    temperature top_k top_p typical_p repetition_penalty length_penalty no_repeat_ngram_size
    encoder_no_repeat_ngram_size bad_words_ids num_return_sequences output_scores
    return_dict_in_generate forced_bos_token_id forced_eos_token_id remove_invalid_values
    exponential_decay_length_penalty suppress_tokens begin_suppress_tokens use_cache output_past
    gradient_checkpointing
    """.split()
)

# Keys that are harmless only at one value: anything else changes the maths and is refused.
_MUST_EQUAL = {
    "is_decoder": False,
    "add_cross_attention": False,
    "pruned_heads": {},
    "position_embedding_type": "absolute",
}

# Extra keys written by studio-ousia's converter into the released mLUKE configs.
_LUKE_LEGACY_KEYS = frozenset(
    """
    bert_model_name cls_entity_prediction deepspeed_transformer_layer_args
    use_deepspeed_transformer_layer
    """.split()
)

SUPPORTED_ACTIVATIONS = tuple(ACTIVATIONS)

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def dtype_name(dtype: Any) -> str:
    """Canonical name of a dtype given as a string or a jnp/np dtype."""
    name = jnp.dtype(dtype).name
    if name not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}: choose one of {sorted(_DTYPES)}")
    return name


def _int_keys(mapping: Mapping[Any, str]) -> dict[int, str]:
    return {int(k): str(v) for k, v in mapping.items()}


@dataclasses.dataclass(frozen=True, kw_only=True)
class LukeConfig:
    """Configuration of LUKE / mLUKE (``model_type: "luke"``).

    Defaults follow ``transformers.LukeConfig``; use :meth:`mluke_base_lite` or :meth:`mluke_base`
    for the released multilingual checkpoints.

    Runtime fields (not part of ``config.json``):
        dtype: compute dtype of matmuls (softmax, LayerNorm statistics and losses stay float32).
        param_dtype: dtype parameters are created / loaded in.
        remat: rematerialise each encoder layer in the backward pass.
        entity_aware_query_weights: create the ``w2e/e2w/e2e`` query projections. ``None`` means
            "exactly when ``use_entity_aware_attention``"; converted -lite checkpoints set it to
            ``True`` because they carry those weights although the attention is plain.
        add_pooling_layer: whether ``LukeModel`` has a pooler (HF's constructor argument).
        untied_word_decoder / untied_entity_decoder: the masked-LM decoders have their own weights
            instead of reusing the word / entity embedding tables.
    """

    model_type: ClassVar[str] = "luke"

    vocab_size: int = 50267
    entity_vocab_size: int = 500000
    hidden_size: int = 768
    entity_emb_size: int = 256
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    use_entity_aware_attention: bool = True
    classifier_dropout: float | None = None
    pad_token_id: int = 1
    bos_token_id: int | None = 0
    eos_token_id: int | None = 2
    tie_word_embeddings: bool = True
    initializer_range: float = 0.02
    num_labels: int | None = None
    id2label: dict[int, str] | None = dataclasses.field(default=None, hash=False)
    problem_type: str | None = None
    architectures: tuple[str, ...] | None = None

    # Runtime knobs: never exported to config.json.
    dtype: str = "float32"
    param_dtype: str = "float32"
    remat: bool = False
    entity_aware_query_weights: bool | None = None
    add_pooling_layer: bool = True
    untied_word_decoder: bool = False
    untied_entity_decoder: bool = False

    RUNTIME_FIELDS: ClassVar[tuple[str, ...]] = (
        "dtype",
        "param_dtype",
        "remat",
        "entity_aware_query_weights",
        "add_pooling_layer",
        "untied_word_decoder",
        "untied_entity_decoder",
    )
    # Runtime fields that change the parameter tree: saved next to converted checkpoints.
    STRUCTURE_FIELDS: ClassVar[tuple[str, ...]] = (
        "entity_aware_query_weights",
        "add_pooling_layer",
        "untied_word_decoder",
        "untied_entity_decoder",
    )

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if self.id2label is not None:
            set_("id2label", _int_keys(self.id2label))
        if self.num_labels is None:
            set_("num_labels", len(self.id2label) if self.id2label else 2)
        if self.id2label is None:
            set_("id2label", {i: f"LABEL_{i}" for i in range(self.num_labels)})
        if self.architectures is not None:
            set_("architectures", tuple(self.architectures))
        set_("dtype", dtype_name(self.dtype))
        set_("param_dtype", dtype_name(self.param_dtype))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent field."""
        positive = (
            "vocab_size entity_vocab_size hidden_size entity_emb_size num_hidden_layers "
            "num_attention_heads intermediate_size max_position_embeddings type_vocab_size"
        ).split()
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"LukeConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"LukeConfig.hidden_size ({self.hidden_size}) is not a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise ValueError(f"LukeConfig.hidden_act {self.hidden_act!r} is not one of {SUPPORTED_ACTIVATIONS}")
        if not (isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0):
            raise ValueError(f"LukeConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if value is not None and not (0.0 <= value < 1.0):
                raise ValueError(f"LukeConfig.{name} must be in [0, 1), got {value!r}")
        if not (0 <= self.pad_token_id < self.vocab_size):
            raise ValueError(f"LukeConfig.pad_token_id {self.pad_token_id} is outside the vocabulary (size {self.vocab_size})")
        if self.max_position_embeddings <= self.pad_token_id + 1:
            raise ValueError(
                f"LukeConfig.max_position_embeddings ({self.max_position_embeddings}) leaves no position after "
                f"pad_token_id + 1 = {self.pad_token_id + 1}"
            )
        if self.num_labels < 1 or len(self.id2label) != self.num_labels:
            raise ValueError(f"LukeConfig.num_labels ({self.num_labels}) disagrees with id2label ({len(self.id2label)} labels)")
        if sorted(self.id2label) != list(range(self.num_labels)):
            raise ValueError(f"LukeConfig.id2label keys must be 0..{self.num_labels - 1}, got {sorted(self.id2label)}")
        if self.problem_type not in (None, "regression", "single_label_classification", "multi_label_classification"):
            raise ValueError(f"LukeConfig.problem_type {self.problem_type!r} is not a transformers problem type")

    # ------------------------------------------------------------ derived values
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def label2id(self) -> dict[str, int]:
        return {v: k for k, v in self.id2label.items()}

    @property
    def has_entity_aware_query_weights(self) -> bool:
        if self.entity_aware_query_weights is None:
            return self.use_entity_aware_attention
        return self.entity_aware_query_weights or self.use_entity_aware_attention

    @property
    def word_decoder_tied(self) -> bool:
        """The masked-LM word decoder reuses the word embedding table."""
        return self.tie_word_embeddings and not self.untied_word_decoder

    @property
    def entity_decoder_tied(self) -> bool:
        """The entity-prediction decoder reuses the entity embedding table."""
        return self.tie_word_embeddings and not self.untied_entity_decoder

    @property
    def max_word_length(self) -> int:
        """Longest ``input_ids`` row without padding: positions run up to ``pad + L``."""
        return self.max_position_embeddings - self.pad_token_id - 1

    @property
    def compute_dtype(self):
        return _DTYPES[self.dtype]

    @property
    def params_dtype(self):
        return _DTYPES[self.param_dtype]

    def replace(self, **changes) -> "LukeConfig":
        return dataclasses.replace(self, **changes)

    def structure(self) -> dict[str, Any]:
        """The runtime fields that shape the parameter tree."""
        return {k: getattr(self, k) for k in self.STRUCTURE_FIELDS}

    # ---------------------------------------------------------------- HF dicts
    @classmethod
    def from_hf_dict(cls, hf: Mapping[str, Any], **runtime) -> "LukeConfig":
        """Build from a ``config.json`` dictionary.

        Unknown keys are an error (listing them), except the generic ``PretrainedConfig`` keys and the
        legacy extras of the released mLUKE configs. Keys that would change the maths at a
        non-default value (``is_decoder``, ``pruned_heads``, ...) are refused at that value.
        """
        hf = dict(hf)
        model_type = hf.pop("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ValueError(f"config.json has model_type {model_type!r}; LukeConfig reads {cls.model_type!r}")
        field_names = {f.name for f in dataclasses.fields(cls)} - set(cls.RUNTIME_FIELDS)
        kwargs: dict[str, Any] = {}
        unknown = []
        for key, value in hf.items():
            if key in field_names:
                kwargs[key] = value
            elif key in _MUST_EQUAL:
                if value != _MUST_EQUAL[key] and value is not None:
                    raise ValueError(
                        f"config.json sets {key}={value!r}; only {_MUST_EQUAL[key]!r} is supported for LUKE encoders"
                    )
            elif key in _GENERIC_HF_KEYS or key in _LUKE_LEGACY_KEYS:
                continue
            else:
                unknown.append(key)
        if unknown:
            raise ValueError(f"config.json has keys LukeConfig does not handle: {sorted(unknown)}")
        if isinstance(kwargs.get("eos_token_id"), list):
            kwargs["eos_token_id"] = kwargs["eos_token_id"][0] if kwargs["eos_token_id"] else None
        if "id2label" in kwargs and "num_labels" not in kwargs and kwargs["id2label"] is not None:
            kwargs["num_labels"] = len(kwargs["id2label"])
        if kwargs.get("pad_token_id") is None:
            kwargs.pop("pad_token_id", None)
        return cls(**kwargs, **runtime)

    def to_hf_dict(self) -> dict[str, Any]:
        """The ``config.json`` dictionary (no runtime fields)."""
        out: dict[str, Any] = {"model_type": self.model_type}
        for f in dataclasses.fields(self):
            if f.name in self.RUNTIME_FIELDS:
                continue
            value = getattr(self, f.name)
            if f.name == "id2label":
                value = {str(k): v for k, v in value.items()}
            elif f.name == "architectures" and value is not None:
                value = list(value)
            elif f.name == "num_labels":
                continue  # transformers derives it from id2label
            out[f.name] = value
        out["label2id"] = self.label2id
        return out

    def to_json_string(self) -> str:
        return json.dumps(self.to_hf_dict(), indent=2, sort_keys=True) + "\n"

    # ----------------------------------------------------------------- presets
    @classmethod
    def mluke_base_lite(cls, **changes) -> "LukeConfig":
        """``studio-ousia/mluke-base-lite``: XLM-R base words, the 4 special entities only."""
        base = dict(
            vocab_size=250004,
            entity_vocab_size=4,
            entity_emb_size=256,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            hidden_act="gelu",
            layer_norm_eps=1e-5,
            max_position_embeddings=514,
            type_vocab_size=1,
            pad_token_id=1,
            use_entity_aware_attention=False,
            entity_aware_query_weights=True,
            architectures=("LukeForMaskedLM",),
        )
        base.update(changes)
        return cls(**base)

    @classmethod
    def mluke_base(cls, **changes) -> "LukeConfig":
        """``studio-ousia/mluke-base``: as -lite with the 1.2M x 256 entity table."""
        return cls.mluke_base_lite(**{"entity_vocab_size": 1200001, **changes})


def read_config_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``config.json`` with a clear error when it is missing or malformed."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config.json at {path}")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
