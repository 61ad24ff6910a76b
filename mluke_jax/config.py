"""Model configurations, read from and written to Hugging Face ``config.json`` dictionaries.

Field names equal the ``config.json`` keys. A handful of runtime knobs (compute dtype, parameter
dtype, rematerialisation, and the *structure* flags a converted checkpoint needs) live on the same
dataclass but are never written to the HF dictionary.
"""

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import jax.numpy as jnp

from mluke_jax.activations import ACTIVATIONS
from mluke_jax.warn import warn

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
class PretrainedConfig:
    """What every model configuration shares: labels, dtypes, rematerialisation, HF dict in/out.

    Subclasses declare their ``config.json`` fields, ``model_type``, the keys they tolerate
    (``IGNORED_KEYS``), the keys allowed at one value only (``MUST_EQUAL``), alias names
    (``ALIASES``: old key -> field) and ``validate``.
    """

    model_type: ClassVar[str] = ""
    IGNORED_KEYS: ClassVar[frozenset[str]] = _GENERIC_HF_KEYS
    MUST_EQUAL: ClassVar[dict[str, Any]] = {}
    ALIASES: ClassVar[dict[str, str]] = {}

    num_labels: int | None = None
    id2label: dict[int, str] | None = dataclasses.field(default=None, hash=False)
    problem_type: str | None = None
    architectures: tuple[str, ...] | None = None

    # Runtime knobs: never exported to config.json.
    dtype: str = "float32"
    param_dtype: str = "float32"
    remat: bool = False
    scan_unroll: int | bool = 1

    RUNTIME_FIELDS: ClassVar[tuple[str, ...]] = ("dtype", "param_dtype", "remat", "scan_unroll")
    # Runtime fields that change the parameter tree: saved next to converted checkpoints.
    STRUCTURE_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        if self.id2label is not None:
            self._set("id2label", _int_keys(self.id2label))
        if self.num_labels is None:
            self._set("num_labels", len(self.id2label) if self.id2label else 2)
        if self.id2label is None:
            self._set("id2label", {i: f"LABEL_{i}" for i in range(self.num_labels)})
        if self.architectures is not None:
            self._set("architectures", tuple(self.architectures))
        self._set("dtype", dtype_name(self.dtype))
        self._set("param_dtype", dtype_name(self.param_dtype))
        if (
            not isinstance(self.scan_unroll, (int, bool))
            or self.scan_unroll is not True
            and (self.scan_unroll is False or self.scan_unroll < 1)
        ):
            raise self._error(
                f"scan_unroll must be a positive number of layers or True (all), got {self.scan_unroll!r}"
            )
        self._check_labels()
        self.validate()

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # frozen dataclass: only during construction

    def _error(self, message: str) -> ValueError:
        return ValueError(f"{type(self).__name__}.{message}")

    def _check_positive(self, names: str) -> None:
        for name in names.split():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise self._error(f"{name} must be a positive integer, got {value!r}")

    def _check_probabilities(self, names: str) -> None:
        for name in names.split():
            value = getattr(self, name)
            if value is not None and not (0.0 <= value < 1.0):
                raise self._error(f"{name} must be in [0, 1), got {value!r}")

    def _check_labels(self) -> None:
        if self.num_labels < 1 or len(self.id2label) != self.num_labels:
            raise self._error(f"num_labels ({self.num_labels}) disagrees with id2label ({len(self.id2label)} labels)")
        if sorted(self.id2label) != list(range(self.num_labels)):
            raise self._error(f"id2label keys must be 0..{self.num_labels - 1}, got {sorted(self.id2label)}")
        if self.problem_type not in (None, "regression", "single_label_classification", "multi_label_classification"):
            raise self._error(f"problem_type {self.problem_type!r} is not a transformers problem type")

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent field."""

    # ------------------------------------------------------------ derived values
    @property
    def label2id(self) -> dict[str, int]:
        return {v: k for k, v in self.id2label.items()}

    @property
    def compute_dtype(self) -> jnp.dtype:
        return _DTYPES[self.dtype]

    @property
    def params_dtype(self) -> jnp.dtype:
        return _DTYPES[self.param_dtype]

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def vocabulary_sizes(self) -> dict[str, int]:
        """Real sizes of the vocabulary axes (logical name -> size), which a mesh may pad."""
        return {"vocab": self.vocab_size}

    def structure(self) -> dict[str, Any]:
        """The runtime fields that shape the parameter tree."""
        return {k: getattr(self, k) for k in self.STRUCTURE_FIELDS}

    # ---------------------------------------------------------------- HF dicts
    @classmethod
    def _normalise_hf(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Family-specific clean-up of the recognised keys before construction."""
        return kwargs

    @classmethod
    def from_hf_dict(cls, hf: Mapping[str, Any], **runtime: Any) -> Self:
        """Build from a ``config.json`` dictionary.

        Unknown keys are an error (listing them), except the generic ``PretrainedConfig`` keys and
        the family's known extras. Keys that would change the maths at a non-default value are
        refused at that value. Alias keys (``pad_index`` for ``pad_token_id``, ...) win over the
        field they stand for, as in transformers 5.
        """
        hf = dict(hf)
        model_type = hf.pop("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ValueError(f"config.json has model_type {model_type!r}; {cls.__name__} reads {cls.model_type!r}")
        field_names = {f.name for f in dataclasses.fields(cls)} - set(cls.RUNTIME_FIELDS)
        kwargs: dict[str, Any] = {}
        aliased: dict[str, Any] = {}
        unknown = []
        for key, value in hf.items():
            if key in field_names:
                kwargs[key] = value
            elif key in cls.ALIASES:
                aliased[cls.ALIASES[key]] = value
            elif key in cls.MUST_EQUAL:
                if value != cls.MUST_EQUAL[key] and value is not None:
                    raise ValueError(f"config.json sets {key}={value!r}; only {cls.MUST_EQUAL[key]!r} is supported")
            elif key not in cls.IGNORED_KEYS:
                unknown.append(key)
        if unknown:
            raise ValueError(f"config.json has keys {cls.__name__} does not handle: {sorted(unknown)}")
        kwargs.update({k: v for k, v in aliased.items() if v is not None})
        if isinstance(kwargs.get("eos_token_id"), list):
            eos = kwargs["eos_token_id"]
            if len(eos) > 1:
                warn(f"config.json lists several eos_token_id {eos}; {cls.__name__} keeps the first, {eos[0]}")
            kwargs["eos_token_id"] = eos[0] if eos else None
        if "id2label" in kwargs and "num_labels" not in kwargs and kwargs["id2label"] is not None:
            kwargs["num_labels"] = len(kwargs["id2label"])
        if kwargs.get("pad_token_id") is None:
            kwargs.pop("pad_token_id", None)
        return cls(**cls._normalise_hf(kwargs), **runtime)

    def _hf_value(self, name: str, value: Any) -> Any:
        if name == "id2label":
            return {str(k): v for k, v in value.items()}
        if name == "architectures" and value is not None:
            return list(value)
        return value

    def to_hf_dict(self) -> dict[str, Any]:
        """The ``config.json`` dictionary (no runtime fields)."""
        out: dict[str, Any] = {"model_type": self.model_type}
        for f in dataclasses.fields(self):
            if f.name in self.RUNTIME_FIELDS or f.name == "num_labels":  # transformers derives num_labels
                continue
            out[f.name] = self._hf_value(f.name, getattr(self, f.name))
        out["label2id"] = self.label2id
        return out

    def to_json_string(self) -> str:
        return json.dumps(self.to_hf_dict(), indent=2, sort_keys=True) + "\n"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LukeConfig(PretrainedConfig):
    """Configuration of LUKE / mLUKE (``model_type: "luke"``).

    Defaults follow ``transformers.LukeConfig``; use :meth:`mluke_base_lite` or :meth:`mluke_base`
    for the released multilingual checkpoints.

    Runtime fields (not part of ``config.json``):
        dtype: compute dtype of matmuls (softmax, LayerNorm statistics and losses stay float32).
        param_dtype: dtype parameters are created / loaded in.
        remat: rematerialise each encoder layer in the backward pass.
        scan_unroll: layers per iteration of the scan over the encoder layers (``lax.scan``'s
            ``unroll``): 1 compiles one layer, so compile time does not grow with depth; ``True``
            (all layers) gives XLA straight-line code, which on CPU makes the training step
            markedly faster (no per-layer stacking of activations and gradients) and compiles
            longer (see benchmarks/RESULTS.md).
        entity_aware_query_weights: create the ``w2e/e2w/e2e`` query projections. ``None`` means
            "exactly when ``use_entity_aware_attention``"; converted -lite checkpoints set it to
            ``True`` because they carry those weights although the attention is plain.
        add_pooling_layer: whether ``LukeModel`` has a pooler (HF's constructor argument).
        untied_word_decoder / untied_entity_decoder: the masked-LM decoders have their own weights
            instead of reusing the word / entity embedding tables.
        entity_padding_idx: the entity row that lookups do not train (transformers: 0, its
            ``padding_idx``; in the -lite vocabulary that row is ``[MASK]``, so transformers never
            trains [MASK]'s embedding through its input). ``None`` trains every row.
    """

    model_type: ClassVar[str] = "luke"
    IGNORED_KEYS: ClassVar[frozenset[str]] = _GENERIC_HF_KEYS | _LUKE_LEGACY_KEYS
    MUST_EQUAL: ClassVar[dict[str, Any]] = _MUST_EQUAL

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

    entity_aware_query_weights: bool | None = None
    add_pooling_layer: bool = True
    untied_word_decoder: bool = False
    untied_entity_decoder: bool = False
    entity_padding_idx: int | None = 0

    RUNTIME_FIELDS: ClassVar[tuple[str, ...]] = PretrainedConfig.RUNTIME_FIELDS + (
        "entity_padding_idx",
        "entity_aware_query_weights",
        "add_pooling_layer",
        "untied_word_decoder",
        "untied_entity_decoder",
    )
    STRUCTURE_FIELDS: ClassVar[tuple[str, ...]] = (
        "entity_aware_query_weights",
        "add_pooling_layer",
        "untied_word_decoder",
        "untied_entity_decoder",
    )

    def validate(self) -> None:
        self._check_positive(
            "vocab_size entity_vocab_size hidden_size entity_emb_size num_hidden_layers "
            "num_attention_heads intermediate_size max_position_embeddings type_vocab_size"
        )
        if self.hidden_size % self.num_attention_heads:
            raise self._error(
                f"hidden_size ({self.hidden_size}) is not a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            raise self._error(f"hidden_act {self.hidden_act!r} is not one of {SUPPORTED_ACTIVATIONS}")
        if not (isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0):
            raise self._error(f"layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")
        self._check_probabilities("hidden_dropout_prob attention_probs_dropout_prob classifier_dropout")
        if not (0 <= self.pad_token_id < self.vocab_size):
            raise self._error(f"pad_token_id {self.pad_token_id} is outside the vocabulary (size {self.vocab_size})")
        if self.entity_padding_idx is not None and not (0 <= self.entity_padding_idx < self.entity_vocab_size):
            raise self._error(
                f"entity_padding_idx {self.entity_padding_idx} is outside the entity vocabulary (size "
                f"{self.entity_vocab_size})"
            )
        if self.max_position_embeddings <= self.pad_token_id + 1:
            raise self._error(
                f"max_position_embeddings ({self.max_position_embeddings}) leaves no position after "
                f"pad_token_id + 1 = {self.pad_token_id + 1}"
            )

    # ------------------------------------------------------------ derived values
    def vocabulary_sizes(self) -> dict[str, int]:
        return {"vocab": self.vocab_size, "entity_vocab": self.entity_vocab_size}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

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

    # ----------------------------------------------------------------- presets
    @classmethod
    def mluke_base_lite(cls, **changes: Any) -> "LukeConfig":
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
    def mluke_base(cls, **changes: Any) -> "LukeConfig":
        """``studio-ousia/mluke-base``: as -lite with the 1.2M x 256 entity table."""
        return cls.mluke_base_lite(**{"entity_vocab_size": 1200001, **changes})


# Keys of the original facebookresearch/XLM training parameters (``train.py`` arguments and the
# values it derives). transformers' converter wrote them into the hub configs (all of them for
# xlm-mlm-17/100-1280); none changes an encoder's forward beyond the fields XLMConfig reads.
_XLM_TRAINING_KEYS = frozenset(
    """
    dump_path exp_name save_periodic exp_id fp16 amp encoder_only share_inout_emb use_memory
    mem_enc_positions mem_dec_positions asm_cutoffs asm_div_value context_size word_pred sample_alpha
    word_mask_keep_rand word_shuffle word_dropout word_blank data_path lgs max_vocab min_count
    lg_sampling_factor bptt max_len group_by_size batch_size max_batch_size tokens_per_batch split_data
    optimizer clip_grad_norm epoch_size max_epoch stopping_criterion validation_metrics
    accumulate_gradients lambda_mlm lambda_clm lambda_pc lambda_ae lambda_mt lambda_bt clm_steps
    mlm_steps mt_steps ae_steps bt_steps pc_steps reload_emb reload_model reload_checkpoint beam_size
    eval_bleu eval_only debug_train debug_slurm debug local_rank master_port
    bt_src_langs command global_rank hyp_path is_master is_slurm_job job_id langs mask_scores
    master_addr mem_product_quantization mem_query_kernel_sizes mem_query_layer_sizes mem_size
    mem_values_optimizer mono_dataset mono_list mono_probs multi_gpu multi_node n_gpu_per_node
    n_indices n_nodes node_id out_features para_dataset para_list para_probs pred_probs ref_paths
    src_id tgt_id transfer_tasks word_keep word_mask word_rand world_size same_enc_dec
    """.split()
)

_XLM_SUMMARY_TYPES = ("first", "last", "mean", "cls_index")


@dataclasses.dataclass(frozen=True, kw_only=True)
class XLMConfig(PretrainedConfig):
    """Configuration of Facebook's cross-lingual XLM (``model_type: "xlm"``).

    Field names and defaults are transformers' ``XLMConfig``; the 2019 key names of the hub configs
    (``n_words``, ``pad_index``, ``bos_index``, ``eos_index``) are read as aliases. ``lang2id`` /
    ``id2lang`` map language codes to the ids of the ``langs`` input. Use a preset
    (:meth:`xlm_mlm_ende_1024`, ...) for the released sizes.

    Runtime fields (not part of ``config.json``): ``dtype``, ``param_dtype``, ``remat``, ``scan_unroll`` (as
    :class:`LukeConfig`), and ``untied_decoder``: the LM projection has its own weight although
    ``tie_word_embeddings`` is set (transformers 5 keeps a stored projection that differs from the
    embeddings instead of tying it).
    """

    model_type: ClassVar[str] = "xlm"
    IGNORED_KEYS: ClassVar[frozenset[str]] = _GENERIC_HF_KEYS | _XLM_TRAINING_KEYS
    MUST_EQUAL: ClassVar[dict[str, Any]] = {
        "is_encoder": True,
        "use_memory": False,
        "is_decoder": False,
        "pruned_heads": {},
    }
    ALIASES: ClassVar[dict[str, str]] = {
        "n_words": "vocab_size",
        "bos_index": "bos_token_id",
        "eos_index": "eos_token_id",
        "pad_index": "pad_token_id",
        "hidden_size": "emb_dim",
        "num_attention_heads": "n_heads",
        "num_hidden_layers": "n_layers",
    }

    vocab_size: int = 30145
    emb_dim: int = 2048
    n_layers: int = 12
    n_heads: int = 16
    dropout: float = 0.1
    attention_dropout: float = 0.1
    gelu_activation: bool = True
    sinusoidal_embeddings: bool = False
    causal: bool = False
    asm: bool = False
    n_langs: int = 1
    use_lang_emb: bool = True
    max_position_embeddings: int = 512
    embed_init_std: float = 2048**-0.5
    layer_norm_eps: float = 1e-12
    init_std: float = 0.02
    unk_index: int = 3
    mask_index: int = 5
    summary_type: str = "first"
    summary_use_proj: bool = True
    summary_activation: str | None = None
    summary_proj_to_labels: bool = True
    summary_first_dropout: float = 0.1
    summary_last_dropout: float | None = None
    start_n_top: int = 5
    end_n_top: int = 5
    mask_token_id: int | None = 0
    lang_id: int | None = 0
    pad_token_id: int = 2
    bos_token_id: int | None = 0
    eos_token_id: int | None = 1
    tie_word_embeddings: bool = True
    lang2id: dict[str, int] | None = dataclasses.field(default=None, hash=False)
    id2lang: dict[int, str] | None = dataclasses.field(default=None, hash=False)

    untied_decoder: bool = False

    RUNTIME_FIELDS: ClassVar[tuple[str, ...]] = PretrainedConfig.RUNTIME_FIELDS + ("untied_decoder",)
    STRUCTURE_FIELDS: ClassVar[tuple[str, ...]] = ("untied_decoder",)

    def __post_init__(self):
        if self.id2lang is not None:
            self._set("id2lang", _int_keys(self.id2lang))
        if self.lang2id is not None:
            self._set("lang2id", {str(k): int(v) for k, v in self.lang2id.items()})
        if self.lang2id is None and self.id2lang is not None:
            self._set("lang2id", {v: k for k, v in self.id2lang.items()})
        if self.id2lang is None and self.lang2id is not None:
            self._set("id2lang", {v: k for k, v in self.lang2id.items()})
        super().__post_init__()

    def validate(self) -> None:
        self._check_positive(
            "vocab_size emb_dim n_layers n_heads n_langs max_position_embeddings start_n_top end_n_top"
        )
        if self.emb_dim % self.n_heads:
            raise self._error(f"emb_dim ({self.emb_dim}) is not a multiple of n_heads ({self.n_heads})")
        if not (isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0):
            raise self._error(f"layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")
        self._check_probabilities("dropout attention_dropout summary_first_dropout summary_last_dropout")
        if not (0 <= self.pad_token_id < self.vocab_size):
            raise self._error(f"pad_token_id {self.pad_token_id} is outside the vocabulary (size {self.vocab_size})")
        if self.summary_type not in _XLM_SUMMARY_TYPES:
            raise self._error(
                f"summary_type {self.summary_type!r} is not supported (transformers implements {_XLM_SUMMARY_TYPES})"
            )
        if self.summary_activation not in (None, *SUPPORTED_ACTIVATIONS, "linear"):
            raise self._error(f"summary_activation {self.summary_activation!r} is not one of {SUPPORTED_ACTIVATIONS}")
        if self.lang2id is not None:
            if sorted(self.id2lang) != sorted(self.lang2id.values()) or any(
                self.lang2id[v] != k for k, v in self.id2lang.items()
            ):
                raise self._error(f"lang2id {self.lang2id} and id2lang {self.id2lang} disagree")
            outside = {k: v for k, v in self.lang2id.items() if not 0 <= v < self.n_langs}
            if outside:
                raise self._error(f"lang2id has ids outside 0..n_langs-1 = 0..{self.n_langs - 1}: {outside}")
        if self.lang_id is not None and not 0 <= self.lang_id < self.n_langs:
            raise self._error(f"lang_id {self.lang_id} is outside 0..n_langs-1 = 0..{self.n_langs - 1}")

    def to_hf_dict(self) -> dict[str, Any]:
        out = super().to_hf_dict()
        if out.get("summary_last_dropout") is None:
            # transformers' XLMConfig has no such field; its head reads it only when present, and
            # compares a null with 0 (TypeError)
            out.pop("summary_last_dropout", None)
        return out

    def _hf_value(self, name: str, value: Any) -> Any:
        if name == "id2lang" and value is not None:
            return {str(k): v for k, v in value.items()}
        return super()._hf_value(name, value)

    # ------------------------------------------------------------ derived values
    @property
    def hidden_size(self) -> int:
        return self.emb_dim

    @property
    def num_attention_heads(self) -> int:
        return self.n_heads

    @property
    def num_hidden_layers(self) -> int:
        return self.n_layers

    @property
    def intermediate_size(self) -> int:
        """transformers hard-codes the FFN width to ``4 * emb_dim``."""
        return 4 * self.emb_dim

    @property
    def head_dim(self) -> int:
        return self.emb_dim // self.n_heads

    @property
    def decoder_tied(self) -> bool:
        """The LM projection reuses the word embedding table."""
        return self.tie_word_embeddings and not self.untied_decoder

    @property
    def hidden_act(self) -> str:
        return "gelu" if self.gelu_activation else "relu"

    @property
    def has_lang_embeddings(self) -> bool:
        """The model has (and adds) a language embedding table."""
        return self.n_langs > 1 and self.use_lang_emb

    def language_id(self, lang: str | int) -> int:
        """The ``langs`` id of a language code (``"en"``) or an id, checked against the model."""
        if isinstance(lang, str):
            if not self.lang2id or lang not in self.lang2id:
                known = sorted(self.lang2id) if self.lang2id else []
                raise ValueError(f"unknown language {lang!r}: this model knows {known}")
            return self.lang2id[lang]
        if not 0 <= int(lang) < self.n_langs:
            raise ValueError(f"language id {lang} is outside 0..n_langs-1 = 0..{self.n_langs - 1}")
        return int(lang)

    # ----------------------------------------------------------------- presets
    @classmethod
    def _released(cls, languages: str, **fields) -> "XLMConfig":
        # The original code numbers languages in sorted order (facebookresearch/XLM check_data_params).
        langs = sorted(languages.split("-"))
        base = dict(
            n_langs=len(langs),
            lang2id={lang: i for i, lang in enumerate(langs)},
            emb_dim=1024,
            n_layers=6,
            n_heads=8,
            gelu_activation=True,
            max_position_embeddings=512,
            layer_norm_eps=1e-12,
            embed_init_std=1024**-0.5,
            architectures=("XLMWithLMHeadModel",),
        )
        base.update(fields)
        return cls(**base)

    @classmethod
    def xlm_mlm_ende_1024(cls, **changes: Any) -> "XLMConfig":
        """``FacebookAI/xlm-mlm-ende-1024`` (and the clm sibling, whose hub config also says ``causal: false``)."""
        return cls._released("de-en", **{"vocab_size": 64699, **changes})

    @classmethod
    def xlm_mlm_enfr_1024(cls, **changes: Any) -> "XLMConfig":
        """``FacebookAI/xlm-mlm-enfr-1024``."""
        return cls._released("en-fr", **{"vocab_size": 64139, **changes})

    @classmethod
    def xlm_mlm_xnli15_1024(cls, **changes: Any) -> "XLMConfig":
        """``FacebookAI/xlm-mlm-xnli15-1024``: 15 XNLI languages, 12 layers."""
        return cls._released(
            "ar-bg-de-el-en-es-fr-hi-ru-sw-th-tr-ur-vi-zh", **{"vocab_size": 95000, "n_layers": 12, **changes}
        )

    @classmethod
    def xlm_mlm_17_1280(cls, **changes: Any) -> "XLMConfig":
        """``FacebookAI/xlm-mlm-17-1280``: no language embeddings (``langs`` is ignored), cased."""
        return cls._released(
            "ar-de-en-es-fr-hi-it-ja-ko-nl-pl-pt-ru-sv-tr-vi-zh",
            **{
                "vocab_size": 200000,
                "emb_dim": 1280,
                "n_layers": 16,
                "n_heads": 16,
                "use_lang_emb": False,
                "embed_init_std": 1280**-0.5,
                **changes,
            },
        )


def read_config_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Read ``config.json`` with a clear error when it is missing or malformed."""
    from mluke_jax.paths import resolve

    file = resolve(path)
    if not file.is_file():
        raise FileNotFoundError(f"no config.json at {path}")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
