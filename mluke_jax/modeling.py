"""Base class of every model: the jitted call with input checks, dropout keys, loading and saving."""

import functools
import math
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Self

import jax
from flax import nnx
from jax.typing import DTypeLike

from mluke_jax import sharding
from mluke_jax.config import PretrainedConfig
from mluke_jax.outputs import ModelOutput
from mluke_jax.validation import InputSpec, is_traced


def resolve_dropout_key(rngs: Any, deterministic: bool | None) -> jax.Array | None:
    """The dropout key of one call, or None for a deterministic (evaluation) call.

    ``deterministic`` defaults to "no ``rngs`` given": ``model(**batch)`` evaluates,
    ``model(**batch, rngs=nnx.Rngs(dropout=0))`` trains with dropout as transformers' train mode does.
    """
    if deterministic is None:
        deterministic = rngs is None
    if deterministic:
        return None
    if rngs is None:
        raise ValueError("deterministic=False needs rngs= (an nnx.Rngs, a PRNG key or an int seed) for dropout")
    if isinstance(rngs, nnx.Rngs):
        return rngs.dropout() if hasattr(rngs, "dropout") else rngs()
    if isinstance(rngs, int):
        return jax.random.key(rngs)
    if isinstance(rngs, jax.Array) or is_traced(rngs):
        return rngs
    raise ValueError(f"rngs must be an nnx.Rngs, a PRNG key or an int seed, got {type(rngs).__name__}")


@functools.partial(jax.jit, static_argnames=("graphdef", "output_attentions", "output_hidden_states"))
def _jitted_forward(graphdef, state, arrays, dropout_key, output_attentions, output_hidden_states):
    # jax.jit over split/merge: nnx.jit also returns the model state for in-place updates, which
    # a forward never makes (measured: 170 ms of a 0.74 s mLUKE-base forward on 2 CPU cores).
    model = nnx.merge(graphdef, state)
    return model.forward(
        **arrays,
        dropout_key=dropout_key,
        output_attentions=output_attentions,
        output_hidden_states=output_hidden_states,
    )


_INITIALISERS: dict[tuple, tuple] = {}


def _sharded_initialiser(cls, config, mesh):
    """The graph definition and a jitted ``key -> parameters`` of ``cls(config)`` whose outputs are
    the parameters' shardings on ``mesh``. Compiled once per model and mesh (a few recent ones are
    kept; configs hold dicts and are not hashable, their repr is the key)."""
    cache_key = (cls, repr(config), mesh)
    if cache_key not in _INITIALISERS:
        graphdef, abstract_state = nnx.split(cls.abstract(config))
        shardings = sharding.named_shardings(abstract_state, mesh)

        @functools.partial(jax.jit, out_shardings=shardings)
        def initialise(key):
            return nnx.state(cls(config, rngs=nnx.Rngs(key)))

        while len(_INITIALISERS) >= 8:
            _INITIALISERS.pop(next(iter(_INITIALISERS)))
        _INITIALISERS[cache_key] = (graphdef, initialise)
    return _INITIALISERS[cache_key]


class PreTrainedModel(nnx.Module):
    """Shared behaviour of the LUKE and XLM models and heads.

    Subclasses define ``forward`` (traceable maths on prepared arrays) and ``prepare_inputs`` (host
    checks and conversion). ``model(**inputs)`` checks the inputs, then runs ``forward`` under
    ``jit``: the first call with new shapes compiles, later calls with the same shapes reuse it.
    Called inside a caller's own ``jit``/``grad`` it runs ``forward`` directly.
    """

    config_class: ClassVar[type]
    # The family's encoder inputs (name -> how to convert it) and the head's own (labels, positions).
    encoder_inputs: ClassVar[Mapping[str, InputSpec]] = MappingProxyType({})
    head_inputs: ClassVar[tuple[str, ...]] = ()
    # Heads keep their encoder under ``base_model_prefix``; the bare encoder sets has_head = False.
    base_model_prefix: ClassVar[str] = ""
    has_head: ClassVar[bool] = True

    @property
    def input_names(self) -> tuple[str, ...]:
        """The keyword arguments ``__call__`` accepts besides the flags (transformers' names)."""
        return tuple(self.encoder_inputs) + self.head_inputs

    @classmethod
    def encoder_prefix(cls) -> str:
        """Where the encoder's parameters live in this class's tree (and in transformers' keys):
        ``"luke."`` / ``"transformer."`` for heads, ``""`` for the bare encoder."""
        return cls.base_model_prefix + "." if cls.has_head else ""

    def __call__(
        self,
        input_ids: Any = None,
        *,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
        deterministic: bool | None = None,
        rngs: Any = None,
        **inputs: Any,
    ) -> ModelOutput | tuple:
        unknown = sorted(set(inputs) - set(self.input_names))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword arguments {unknown}; accepted: "
                f"{list(self.input_names)}"
            )
        arrays = self.prepare_inputs({"input_ids": input_ids, **inputs})
        dropout_key = resolve_dropout_key(rngs, deterministic)
        flags = dict(output_attentions=bool(output_attentions), output_hidden_states=bool(output_hidden_states))
        if any(is_traced(a) for a in jax.tree.leaves(arrays)) or is_traced(dropout_key):
            out = self.forward(**arrays, dropout_key=dropout_key, **flags)
        else:
            graphdef, state = nnx.split(self)
            out = _jitted_forward(graphdef, state, arrays, dropout_key, **flags)
        return out if return_dict else out.to_tuple()

    def prepare_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def forward(self, **kwargs: Any) -> ModelOutput:
        raise NotImplementedError

    # ------------------------------------------------------------- construction
    @classmethod
    def build(cls, config: PretrainedConfig, *, seed: int = 0) -> Self:
        """A randomly initialised model; under an active mesh (:func:`mluke_jax.use_mesh`) each
        parameter is created directly in its sharding (no full copy on one device), with the
        values of the one-device model up to float rounding (one compiled program draws them
        instead of one small program per operation)."""
        mesh = sharding.current_mesh()
        if mesh is None:  # op by op: each operation compiles once for every model of the session
            return cls(config, rngs=nnx.Rngs(seed))
        graphdef, initialise = _sharded_initialiser(cls, config, mesh)
        return nnx.merge(graphdef, initialise(jax.random.key(seed)))

    @classmethod
    def abstract(cls, config: PretrainedConfig) -> Self:
        """The model's structure with ``ShapeDtypeStruct`` leaves: no memory, no initialisation.
        Under a mesh, vocabulary tables have their padded shapes (see :mod:`mluke_jax.sharding`)."""
        return nnx.eval_shape(lambda: cls(config, rngs=nnx.Rngs(0)))

    @property
    def num_parameters(self) -> int:
        """Parameter count of the model itself (vocabulary padding for a mesh not counted)."""
        from mluke_jax import checkpoint

        return sum(math.prod(spec.shape) for spec in checkpoint.abstract_params(self).values())

    # ------------------------------------------------------------ checkpoints
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        dtype: DTypeLike | None = None,
        param_dtype: DTypeLike | None = None,
        seed: int = 0,
        revision: str | None = None,
        output_loading_info: bool = False,
        **config_changes: Any,
    ) -> Self:
        """Load a converted (Orbax) directory, a transformers directory or a hub name.

        Args:
            name_or_path: a directory written by ``python -m convert`` / ``save_pretrained``; a
                transformers PyTorch directory (converted in memory, needs the ``torch`` extra for
                ``.bin`` files); or a hub repository name (downloaded; fails fast offline).
            dtype: compute dtype (default: the parameter dtype).
            param_dtype: dtype of the loaded parameters (default: as stored).
            seed: initialises parameters the checkpoint lacks (a new head), as transformers does.
            output_loading_info: return ``(model, info)``, ``info["missing_keys"]`` the parameters
                that were initialised (a head the checkpoint does not have) and
                ``info["unexpected_keys"]`` those dropped, as transformers does.
            config_changes: runtime config fields (e.g. ``remat=True``) or label settings.
        """
        from mluke_jax import sources

        return sources.load_pretrained(
            name_or_path,
            cls,
            dtype=dtype,
            param_dtype=param_dtype,
            seed=seed,
            revision=revision,
            output_loading_info=output_loading_info,
            **config_changes,
        )

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write ``config.json``, ``mluke_jax.json`` and the Orbax parameters to ``path`` (atomically)."""
        from mluke_jax import checkpoint

        checkpoint.save_pretrained(self, path)
