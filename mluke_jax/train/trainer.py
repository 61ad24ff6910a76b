"""A jitted training step for any head that returns a loss, on one device or a sharded mesh.

    trainer = Trainer(model, OptimizerConfig(learning_rate=3e-5, total_steps=1000, warmup_steps=60))
    for batch in batches:                    # dicts of the model's keyword arguments, labels included
        metrics = trainer.train_step(batch)  # {"loss", "grad_norm", "learning_rate"} (device scalars)
    trainer.model.save_pretrained(directory)

The state that changes (trainable parameters, optimiser state, step, dropout key) is one pytree,
:class:`TrainState`: it is what a checkpoint saves. Dropout is on (transformers' ``train()``
mode) with a key folded from the state's key and the step, so a resumed run draws the same masks;
``dropout=False`` trains deterministically (as the gradient tests do). Under an active mesh
(:func:`mluke_jax.use_mesh`) the parameters and the optimiser state keep their logical-axis
shardings and batches are split over the ``data`` and ``fsdp`` axes; nothing else changes.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct

from mluke_jax import checkpoint, sharding
from mluke_jax.modeling import PreTrainedModel
from mluke_jax.train.optim import TRAINABLE, OptimizerConfig, make_optimizer


def _key_names(path: tuple) -> tuple:
    return tuple(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))) for k in path)


def map_parameter_leaves(fn: Callable, opt_state: Any, like_params: Any, *, non_params: Callable = lambda x: x) -> Any:
    """``fn(leaf, the parameter's leaf in like_params)`` on every optimiser-state leaf that mirrors
    a parameter (Adam's moments: its path ends with the parameter's path), ``non_params(leaf)`` on
    the others (counts). Unlike ``optax.tree_map_params`` it also reads the states of
    ``optax.multi_transform`` (``OptimizerConfig.trainable_prefixes``: frozen parameters' states
    are masked nodes, so the state's tree is not the parameters')."""
    params = {_key_names(path): leaf for path, leaf in jax.tree_util.tree_flatten_with_path(like_params)[0]}
    longest = max((len(k) for k in params), default=0)

    def one(path, leaf):
        keys = _key_names(path)
        for start in range(max(0, len(keys) - longest), len(keys)):
            if keys[start:] in params:
                return fn(leaf, params[keys[start:]])
        return non_params(leaf)

    return jax.tree_util.tree_map_with_path(one, opt_state)


@struct.dataclass
class TrainState:
    """Everything a training step changes. ``rng`` is a raw ``uint32[2]`` key (checkpointable)."""

    params: Any
    opt_state: Any
    step: jax.Array
    rng: jax.Array


@dataclasses.dataclass(frozen=True)
class _RealShape:
    """A parameter's shape in checkpoints (a pytree leaf): its live shape may be padded for the mesh."""

    shape: tuple[int, ...]


def _cut(x, real: _RealShape):
    """A live (maybe padded) parameter or optimiser moment at its checkpoint shape."""
    if tuple(x.shape) == real.shape:
        return x
    return x[tuple(slice(0, n) for n in real.shape)]


def _unpadded_sharding(placement, shape: tuple[int, ...], real: tuple[int, ...]):
    """``placement`` with the padded dimensions unsharded (a real size need not divide the mesh)."""
    if shape == real or not isinstance(placement, jax.sharding.NamedSharding):
        return placement
    spec = tuple(placement.spec) + (None,) * (len(shape) - len(placement.spec))
    fitted = [None if s != r else axes for axes, s, r in zip(spec, shape, real)]
    return jax.sharding.NamedSharding(placement.mesh, jax.sharding.PartitionSpec(*fitted))


def _step(graphdef, rest, tx, schedule, accumulation: int, dropout: bool, extra_metrics, state: TrainState,
          batch: dict):
    dropout_key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step) if dropout else None

    def loss_of(params):
        model = nnx.merge(graphdef, params, rest)
        out = model.forward(**batch, dropout_key=dropout_key)
        if out.loss is None:
            raise ValueError(f"{type(model).__name__} returned no loss: the batch needs labels")
        return out.loss.astype(jnp.float32), out

    (loss, out), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        "loss": loss,
        "grad_norm": optax.tree.norm(grads),
        "learning_rate": schedule(state.step // accumulation),
    }
    if extra_metrics is not None:
        metrics.update(extra_metrics(out, batch))
    return TrainState(params=params, opt_state=opt_state, step=state.step + 1, rng=state.rng), metrics


def loss_and_gradients(
    model: PreTrainedModel, batch: dict[str, Any], *, dropout_key: jax.Array | None = None
) -> tuple[jax.Array, nnx.State]:
    """Loss of one batch and its gradient for every trainable parameter (an ``nnx.State`` shaped
    like the model's parameters). ``dropout_key=None`` runs without dropout (eval mode)."""
    graphdef, params, rest = nnx.split(model, TRAINABLE, ...)
    return _value_and_grad(graphdef, params, rest, model.prepare_inputs(dict(batch)), dropout_key)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _value_and_grad(graphdef, params, rest, arrays, dropout_key):
    # module level, the graph definition static: compiled once per model structure and input shapes
    def loss_of(params):
        return nnx.merge(graphdef, params, rest).forward(**arrays, dropout_key=dropout_key).loss.astype(jnp.float32)

    return jax.value_and_grad(loss_of)(params)


class Trainer:
    """Train ``model`` (any mluke_jax head) with ``optimizer``.

    Args:
        model: the model to train; ``trainer.model`` is it with the current parameters.
        optimizer: an :class:`OptimizerConfig` (AdamW recipe) or any optax transformation.
        seed: seeds the dropout keys.
        dropout: dropout on during training (transformers' train mode).
        schedule: the learning-rate schedule when ``optimizer`` is an optax transformation (only
            reported in the metrics).
        metrics: ``(outputs, batch) -> {name: scalar}`` computed inside the step (per-objective
            losses and accuracies); a module-level function, as it is part of the compiled step.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        optimizer: OptimizerConfig | optax.GradientTransformation,
        *,
        seed: int = 0,
        dropout: bool = True,
        schedule: optax.Schedule | None = None,
        metrics: Callable[[Any, dict[str, Any]], dict[str, jax.Array]] | None = None,
    ):
        self.graphdef, params, self.rest = nnx.split(model, TRAINABLE, ...)
        if isinstance(optimizer, OptimizerConfig):
            self.tx, self.schedule = make_optimizer(optimizer)
            self.accumulation_steps = optimizer.accumulation_steps
        else:
            self.tx, self.schedule, self.accumulation_steps = optimizer, schedule or (lambda _: jnp.nan), 1
        mesh = jax.sharding.get_mesh()  # the concrete mesh of jax.set_mesh / mluke_jax.use_mesh
        self.mesh = None if mesh.empty else mesh
        param_shardings = jax.tree.map(lambda x: x.sharding, params)
        opt_abstract = jax.eval_shape(self.tx.init, params)
        if self.mesh is not None:
            replicated = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())
            # optimiser moments take their parameter's sharding (FSDP shards them too)
            opt_shardings = map_parameter_leaves(
                lambda _, s: s, opt_abstract, param_shardings, non_params=lambda _: replicated
            )
            self._state_shardings = TrainState(
                params=param_shardings, opt_state=opt_shardings, step=replicated, rng=replicated
            )
            self._batch_sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec(("data", "fsdp")))
        else:
            self._state_shardings = None
            self._batch_sharding = None
        # Each parameter's checkpoint shape (vocabulary tables padded for the mesh are saved unpadded).
        real = checkpoint.abstract_params(model)
        self._real_shapes = nnx.from_flat_state(
            [
                (path, var.replace(_RealShape(tuple(real[".".join(map(str, path))].shape))))
                for path, var in nnx.to_flat_state(params)
            ]
        )
        self._padded = any(
            tuple(np.shape(x)) != r.shape for x, r in zip(jax.tree.leaves(params), jax.tree.leaves(self._real_shapes))
        )
        init = jax.jit(self.tx.init, out_shardings=None if self.mesh is None else self._state_shardings.opt_state)
        rng = jax.random.key_data(jax.random.key(seed))
        self.state = TrainState(params=params, opt_state=init(params), step=jnp.asarray(0, jnp.int32), rng=rng)
        if self.mesh is not None:
            self.state = self.state.replace(
                step=jax.device_put(self.state.step, replicated), rng=jax.device_put(rng, replicated)
            )
        step = functools.partial(
            _step, self.graphdef, self.rest, self.tx, self.schedule, self.accumulation_steps, dropout, metrics
        )
        shardings = {} if self.mesh is None else {"out_shardings": (self._state_shardings, None)}
        self._train = jax.jit(step, donate_argnums=(0,), **shardings)
        self._prepare = nnx.merge(self.graphdef, params, self.rest).prepare_inputs

    # ------------------------------------------------------------------------------- steps
    def prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Host checks and conversion of one batch (the model's own), placed on the mesh. With
        several processes (``jax.distributed``) each passes its own rows of the global batch
        (``BatchStream(..., shard=(jax.process_index(), jax.process_count()))``)."""
        arrays = self._prepare(dict(batch))
        if self.mesh is None:
            return arrays
        processes = jax.process_count()
        for size in {int(np.shape(a)[0]) * processes for a in jax.tree.leaves(arrays)}:
            self.check_batch_size(size)
        if processes > 1:
            # multi-host: each process passes its own rows of the global batch
            return jax.tree.map(
                lambda a: jax.make_array_from_process_local_data(self._batch_sharding, np.asarray(a)), arrays
            )
        return jax.device_put(arrays, self._batch_sharding)

    def check_batch_size(self, size: int) -> None:
        """Raise unless a global batch of ``size`` rows splits evenly over the mesh's data x fsdp devices."""
        if self.mesh is not None:
            sharding.check_batch_divides(size, self.mesh)

    def train_step(self, batch: dict[str, Any]) -> dict[str, jax.Array]:
        """One micro-batch: gradients, then an optimiser update (every ``accumulation_steps``)."""
        self.state, metrics = self._train(self.state, self.prepare(batch))
        return metrics

    @property
    def step(self) -> int:
        return int(self.state.step)

    @property
    def model(self) -> PreTrainedModel:
        """The model with the current parameters (shares their arrays)."""
        return nnx.merge(self.graphdef, self.state.params, self.rest)

    def state_shardings(self) -> TrainState | None:
        return self._state_shardings

    def replace_state(self, state: TrainState) -> None:
        """Continue from ``state`` (a restored checkpoint, in live shapes)."""
        self.state = state

    # ------------------------------------------------------------------------ checkpoints
    def _map_parameters(self, fn, state: TrainState, non_params=lambda x: x) -> TrainState:
        """``fn(leaf, real_shape)`` on every parameter and parameter-shaped optimiser leaf."""
        return state.replace(
            params=jax.tree.map(fn, state.params, self._real_shapes),
            opt_state=map_parameter_leaves(fn, state.opt_state, self._real_shapes, non_params=non_params),
        )

    def checkpoint_state(self) -> TrainState:
        """The state as a checkpoint holds it: vocabulary padding (added for the mesh) cut off."""
        return self._map_parameters(_cut, self.state) if self._padded else self.state

    def checkpoint_target(self) -> TrainState:
        """Abstract :meth:`checkpoint_state` (shapes, dtypes, shardings on this mesh) to restore into."""

        def spec(x, real=None):
            shape = tuple(x.shape) if real is None else real.shape
            sharding = getattr(x, "sharding", None)
            return jax.ShapeDtypeStruct(
                shape,
                x.dtype,
                sharding=sharding if sharding is None else _unpadded_sharding(sharding, tuple(x.shape), shape),
            )

        target = jax.tree.map(spec, self.state)
        if self._padded:
            mapped = self._map_parameters(spec, self.state, non_params=spec)
            target = target.replace(params=mapped.params, opt_state=mapped.opt_state)
        return target

    def restore_checkpoint_state(self, state: TrainState) -> None:
        """Continue from a restored :meth:`checkpoint_state`: padding added back for this mesh."""
        if self._padded:
            live = self.state

            def pad(x, like):
                if tuple(x.shape) == tuple(like.shape):
                    return x
                widths = [(0, b - a) for a, b in zip(x.shape, like.shape)]
                return jax.jit(lambda a: jnp.pad(a, widths), out_shardings=getattr(like, "sharding", None))(x)

            state = jax.tree.map(pad, state, live)
        self.state = state

    def checkpoint_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(path, checkpoint shape)`` of every trained parameter (what a checkpoint must match)."""
        return [(".".join(map(str, path)), var.get_value().shape) for path, var in nnx.to_flat_state(self._real_shapes)]


__all__ = ["OptimizerConfig", "TrainState", "Trainer", "loss_and_gradients"]
