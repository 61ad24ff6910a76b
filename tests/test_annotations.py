"""Every public function and method of the library has type hints on its arguments and its return
(the shapes stay in the docstrings): what the API reference and an editor show a user."""

import importlib
import inspect
import pkgutil

import mluke_jax

# Material outside the library proper (mluke_jax/testing), and the recipes' command-line internals.
SKIPPED_PACKAGES = ("mluke_jax.testing", "mluke_jax.finetune")


def _modules():
    for info in pkgutil.walk_packages(mluke_jax.__path__, "mluke_jax."):
        if info.name.startswith(SKIPPED_PACKAGES) or info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        yield importlib.import_module(info.name)


def _public_functions():
    """``(qualified name, function)`` for the module-level functions and class methods each module defines."""
    for module in _modules():
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(value):
                yield f"{module.__name__}.{name}", value
            elif inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_") and attr not in ("__init__", "__call__"):
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    elif isinstance(member, property):
                        member = member.fget
                    if inspect.isfunction(member) and member.__module__ == module.__name__:
                        yield f"{module.__name__}.{name}.{attr}", member


def test_public_functions_have_type_hints():
    missing = []
    for qualified, function in _public_functions():
        signature = inspect.signature(function)
        for parameter in signature.parameters.values():
            if parameter.name in ("self", "cls"):
                continue
            if parameter.annotation is inspect.Parameter.empty:
                missing.append(f"{qualified}({parameter.name})")
        if signature.return_annotation is inspect.Signature.empty and function.__name__ != "__init__":
            missing.append(f"{qualified} -> ?")
    assert not missing, f"{len(missing)} missing type hints:\n" + "\n".join(missing)
