"""Logical axis names, the one rules table that maps them to mesh axes, the mesh factory, and
fitting parameters onto a mesh.

Every parameter is created with logical axis names (``param_init``), unsharded; ``build`` and
``from_pretrained`` place it on the active mesh (``with use_mesh(mesh):``) by
:data:`LOGICAL_AXIS_RULES`. Sizes that do not divide over their mesh axes are fitted:

- vocabulary tables (the :data:`PADDED_AXES`) are padded with zero rows up to a multiple of their
  axis, which is exact: padded rows are never looked up, the logits of padded columns are cut off
  before any loss or output, so they get no gradient and stay zero; checkpoints and exports never
  hold the padding;
- any other dimension stays unsharded on that axis, with one warning naming the parameter.
"""

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from flax.core import spmd as flax_spmd
from jax.typing import DTypeLike

from mluke_jax.warn import warn

# Mesh axes: batch parallelism, fully-sharded data parallelism (weights and optimiser state sharded
# along the hidden size), tensor parallelism (vocabulary, heads and FFN width).
MESH_AXES = ("data", "fsdp", "tensor")

# Every logical name used by a parameter or activation is listed: unknown names would be taken as
# mesh axis names.
LOGICAL_AXIS_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("batch", ("data", "fsdp")),
    ("vocab", "tensor"),
    ("entity_vocab", "tensor"),
    ("embed", "fsdp"),
    ("hidden", "tensor"),
    ("entity_embed", None),
    ("heads", "tensor"),
    ("mlp", "tensor"),
    ("layers", None),
    ("positions", None),
    ("token_types", None),
    ("languages", None),
    ("classes", None),
)

# Vocabulary axes: padded to divide over their mesh axes instead of being left unsharded.
PADDED_AXES = ("vocab", "entity_vocab")


def make_mesh(
    data: int = -1, fsdp: int = 1, tensor: int = 1, devices: Sequence[jax.Device] | None = None
) -> jax.sharding.Mesh:
    """A ``(data, fsdp, tensor)`` mesh with ``Auto`` axis types; ``-1`` takes the remaining devices."""
    devices = list(devices if devices is not None else jax.devices())
    sizes = [data, fsdp, tensor]
    if sizes.count(-1) > 1:
        raise ValueError("at most one mesh axis may be -1")
    known = 1
    for s in sizes:
        if s != -1:
            if s < 1:
                raise ValueError(f"mesh axis sizes must be >= 1 or -1, got {sizes}")
            known *= s
    if -1 in sizes:
        if len(devices) % known:
            raise ValueError(f"{len(devices)} devices do not divide into mesh axes {dict(zip(MESH_AXES, sizes))}")
        sizes[sizes.index(-1)] = len(devices) // known
    total = sizes[0] * sizes[1] * sizes[2]
    if total != len(devices):
        raise ValueError(f"mesh {dict(zip(MESH_AXES, sizes))} needs {total} devices, {len(devices)} available")
    return jax.make_mesh(tuple(sizes), MESH_AXES, axis_types=(jax.sharding.AxisType.Auto,) * 3, devices=devices)


def parse_mesh(text: str | None) -> dict[str, int] | None:
    """``data=2,fsdp=4[,tensor=1]`` -> mesh axis sizes."""
    if not text:
        return None
    sizes = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in ("data", "fsdp", "tensor") or not value.strip().lstrip("-").isdigit():
            raise ValueError(f"--mesh wants data=N,fsdp=N,tensor=N, got {text!r}")
        sizes[name.strip()] = int(value)
    return sizes


@contextlib.contextmanager
def use_mesh(
    mesh: jax.sharding.Mesh, rules: Sequence[tuple[str, Any]] = LOGICAL_AXIS_RULES
) -> Iterator[jax.sharding.Mesh]:
    """Set ``mesh`` as the global mesh and the logical axis rules for the block."""
    with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
        yield mesh


def param_init(init: Callable, *names: str | None) -> Callable:
    """``init`` annotated with one logical axis name per dimension; the parameter is created
    unsharded (``build`` and ``from_pretrained`` place it on the mesh, see the module docstring)."""
    return nnx.with_metadata(init, out_sharding=tuple(names), eager_sharding=False)


def padded_param_init(init: Callable, names: tuple[str | None, ...], real: tuple[int, ...]) -> Callable:
    """``param_init`` for a table whose created shape may be padded past ``real``: the values are
    drawn at the real shape (the same numbers as without padding) and padded with zeros."""

    def padded(key, shape, dtype: DTypeLike | None = None):
        value = init(key, real, dtype) if dtype is not None else init(key, real)
        return jax.numpy.pad(value, [(0, s - r) for s, r in zip(shape, real)])

    return param_init(padded, *names)


def current_mesh() -> jax.sharding.Mesh | None:
    """The mesh of ``use_mesh`` / ``jax.set_mesh``, or None."""
    mesh = jax.sharding.get_mesh()
    return None if mesh.empty else mesh


def check_batch_divides(size: int, mesh: jax.sharding.Mesh | None = None) -> None:
    """Raise unless a global batch of ``size`` rows splits evenly over the data x fsdp devices of
    ``mesh`` (default: the active one; none: any size)."""
    mesh = mesh if mesh is not None else current_mesh()
    if mesh is None:
        return
    shards = mesh.shape["data"] * mesh.shape["fsdp"]
    if size % shards:
        raise ValueError(f"batch size {size} does not divide over the mesh's data x fsdp = {shards} devices")


def _rules() -> tuple:
    return flax_spmd.get_logical_axis_rules() or LOGICAL_AXIS_RULES


def mesh_axes(name: str | None) -> tuple[str, ...]:
    """The mesh axes a logical axis name is sharded over (by the active or default rules)."""
    if name is None:
        return ()
    target = dict(_rules()).get(name, name)
    if target is None:
        return ()
    return (target,) if isinstance(target, str) else tuple(target)


def axis_shards(name: str | None) -> int:
    """How many pieces logical axis ``name`` is cut into on the active mesh (also inside ``jit``
    and ``eval_shape``, where only the abstract mesh is known)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return 1
    shape = dict(mesh.shape)
    return math.prod(shape[a] for a in mesh_axes(name) if a in shape)


def padded_size(size: int, name: str) -> int:
    """``size`` rounded up to divide over logical axis ``name`` on the active mesh (a
    :data:`PADDED_AXES` name; others are never padded)."""
    if name not in PADDED_AXES:
        return size
    shards = axis_shards(name)
    return -(-size // shards) * shards


_WARNED: set[tuple] = set()


def partition_specs(state: nnx.State) -> object:
    """``PartitionSpec`` tree of a model state under the active (or default) rules, fitted to the
    active mesh: a dimension its mesh axes do not divide stays unsharded on them (one warning per
    parameter and mesh)."""
    with contextlib.ExitStack() as stack:
        if not flax_spmd.get_logical_axis_rules():
            stack.enter_context(nnx.logical_axis_rules(LOGICAL_AXIS_RULES))
        specs = nnx.get_partition_spec(state)
    mesh = current_mesh()
    if mesh is None:
        return specs
    shapes = {path: np.shape(var.get_value()) for path, var in nnx.to_flat_state(state)}

    def fit(path, var):
        spec, shape = var.get_value(), shapes[path]
        fitted = []
        for dim, (axes, size) in enumerate(zip(tuple(spec) + (None,) * (len(shape) - len(spec)), shape)):
            names = () if axes is None else (axes,) if isinstance(axes, str) else tuple(axes)
            pieces = math.prod(mesh.shape[a] for a in names)
            if size % pieces:
                key = (path, tuple(shape), tuple(sorted(mesh.shape.items())))
                if key not in _WARNED:
                    _WARNED.add(key)
                    warn(
                        f"parameter {'.'.join(map(str, path))} {tuple(shape)}: dimension {dim} of size {size} does not "
                        f"divide over mesh axes {names} ({pieces} devices); it is left unsharded on them"
                    )
                axes = None
            fitted.append(axes)
        return var.replace(jax.sharding.PartitionSpec(*fitted))

    flat = [(path, fit(path, var)) for path, var in nnx.to_flat_state(specs)]
    return nnx.from_flat_state(flat)


def named_shardings(state: nnx.State, mesh: jax.sharding.Mesh) -> object:
    """``NamedSharding`` tree of a model state on ``mesh`` (see :func:`partition_specs`)."""
    specs = partition_specs(state)
    return jax.tree.map(
        lambda p: jax.sharding.NamedSharding(mesh, p),
        specs,
        is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec),
    )


def unpadded_shape(shape: tuple[int, ...], axes: tuple[str | None, ...], sizes: dict[str, int]) -> tuple[int, ...]:
    """The shape without vocabulary padding: each :data:`PADDED_AXES` dimension at its real size."""
    return tuple(
        min(dim, sizes[name]) if name in PADDED_AXES and name in sizes else dim for dim, name in zip(shape, axes)
    )


def unpad(value: jax.Array | np.ndarray, axes: tuple[str | None, ...], sizes: dict[str, int]) -> jax.Array | np.ndarray:
    """``value`` with vocabulary padding cut off (unchanged when there is none)."""
    real = unpadded_shape(tuple(value.shape), axes, sizes)
    if real == tuple(value.shape):
        return value
    return value[tuple(slice(0, n) for n in real)]


def pad_to(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Host array ``value`` zero-padded at the end of each dimension up to ``shape``."""
    if tuple(value.shape) == tuple(shape):
        return value
    return np.pad(value, [(0, s - v) for s, v in zip(shape, value.shape)])


def logical_axes(model: nnx.Module) -> dict[str, tuple[str | None, ...]]:
    """``{"dotted.param.path": logical axis names}`` of a model's parameters (abstract or real)."""
    return {
        ".".join(map(str, path)): tuple(var.get_metadata().get("out_sharding") or ())
        for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param))
    }
