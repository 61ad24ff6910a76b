"""Logical axis names, the one rules table that maps them to mesh axes, and the mesh factory.

Every parameter is created with logical axis names (``nnx.with_partitioning``). Without a mesh the
names are kept as metadata only, so a model builds and runs on one CPU; under
``with use_mesh(mesh):`` the variables are created sharded by :data:`LOGICAL_AXIS_RULES`.
"""

import contextlib
from typing import Callable, Sequence

import jax
from flax import nnx
from flax.core import meta as flax_meta
from flax.core import spmd as flax_spmd

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


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1, devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
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


@contextlib.contextmanager
def use_mesh(mesh: jax.sharding.Mesh, rules=LOGICAL_AXIS_RULES):
    """Set ``mesh`` as the global mesh and the logical axis rules for the block."""
    with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
        yield mesh


def variable_creation_context():
    """Context for building parameters.

    With a mesh set, parameters are sharded eagerly (our rules are installed when none are active);
    without one they are created unsharded, their logical names kept as metadata.
    """
    stack = contextlib.ExitStack()
    if flax_meta.get_global_mesh() is None:
        stack.enter_context(nnx.use_eager_sharding(False))
    elif not flax_spmd.get_logical_axis_rules():
        stack.enter_context(nnx.logical_axis_rules(LOGICAL_AXIS_RULES))
    return stack


def param_init(init: Callable, *names: str | None) -> Callable:
    """``init`` annotated with one logical axis name per dimension."""
    return nnx.with_partitioning(init, tuple(names))


def logical_axes(model) -> dict[str, tuple[str | None, ...]]:
    """``{"dotted.param.path": logical axis names}`` of a model's parameters (abstract or real)."""
    return {".".join(map(str, path)): tuple(var.get_metadata().get("out_sharding") or ()) for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def partition_specs(state) -> object:
    """``PartitionSpec`` tree of a model state under the active (or default) rules."""
    if flax_spmd.get_logical_axis_rules():
        return nnx.get_partition_spec(state)
    with nnx.logical_axis_rules(LOGICAL_AXIS_RULES):
        return nnx.get_partition_spec(state)
