"""Every public class documents itself: ``inspect.getdoc`` returns the class's own docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import snnlearn


def _public_classes():
    for info in pkgutil.walk_packages(snnlearn.__path__, "snnlearn."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and not name.startswith("_") and obj.__module__ == info.name:
                yield info.name, name, obj


def test_public_classes_have_their_own_docstring():
    missing = [f"{mod}.{name}" for mod, name, cls in _public_classes()
               if not cls.__dict__.get("__doc__") or inspect.getdoc(cls) != inspect.cleandoc(
                   cls.__dict__["__doc__"])]
    assert not missing, f"public classes without their own docstring: {missing}"


def test_there_are_public_classes_to_check():
    assert len(list(_public_classes())) > 20
