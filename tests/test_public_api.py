"""The public surface: every public module says what it exports, every export exists, ``import hookgate``
offers exactly its ``__all__``, and every type the facade's methods take or return is exported by a public
module.

(The order of each ``__all__`` is ruff's RUF022 check.)
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from types import ModuleType

import hookgate
from hookgate.client import Hookgate
from hookgate.outbound.worker import Worker


def _public_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages(hookgate.__path__, "hookgate.")]
    public = [n for n in names if not any(part.startswith("_") for part in n.split(".")[1:])]
    return [hookgate, *(importlib.import_module(n) for n in public)]


def test_every_public_module_declares_what_it_exports_and_each_export_exists() -> None:
    modules = _public_modules()
    assert len(modules) > 60
    for module in modules:
        exported = getattr(module, "__all__", None)
        assert isinstance(exported, list), f"{module.__name__} has no __all__ list"
        assert len(set(exported)) == len(exported), f"{module.__name__}: a name is listed twice"
        for name in exported:
            assert getattr(module, name, None) is not None, f"{module.__name__}.{name} is listed but missing"


def test_the_testing_module_is_public_and_offers_its_doubles() -> None:
    import hookgate.testing

    assert hookgate.testing in _public_modules()
    assert {"FixedClock", "RecordingReceiver", "capture_logs"} <= set(hookgate.testing.__all__)
    assert hookgate.testing.__all__ == sorted(hookgate.testing.__all__)


def test_import_hookgate_offers_exactly_its_all() -> None:
    offered = {
        name
        for name in dir(hookgate)
        if not name.startswith("_")
        and not inspect.ismodule(getattr(hookgate, name))
        and name not in {"annotations", "TYPE_CHECKING", "Any"}
    }
    # the lazy names (the facade pulls in the store and HTTP layers) are resolved on first use
    assert offered <= set(hookgate.__all__), sorted(offered - set(hookgate.__all__))
    for name in hookgate.__all__:
        assert getattr(hookgate, name) is not None


def test_every_type_in_the_facades_signatures_is_exported_by_a_public_module() -> None:
    exported = {id(getattr(m, name)) for m in _public_modules() for name in m.__all__ if hasattr(m, name)}
    missing: set[str] = set()
    for name, method in inspect.getmembers(Hookgate, inspect.isfunction):
        if name.startswith("_"):
            continue
        # names the facade imports only for type checking (they pull in heavier layers) resolved here
        for hint in typing.get_type_hints(method, localns={"Worker": Worker}).values():
            for kind in _classes(hint):
                if kind.__module__.startswith("hookgate") and id(kind) not in exported:
                    missing.add(f"{kind.__module__}.{kind.__qualname__} (in Hookgate.{name})")
    assert not missing, sorted(missing)


def _classes(hint: object) -> list[type]:
    found = [hint] if isinstance(hint, type) else []
    for arg in typing.get_args(hint):
        found.extend(_classes(arg))
    return found
