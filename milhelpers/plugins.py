"""Your own methods from a file, a module or an installed package: plugins of the method registry.

A plugin is Python code that registers methods (:func:`milhelpers.methods.register`) when it is
imported. Three ways to bring one in:

* a file: ``--plugin my_methods.py`` on ``python -m milhelpers train`` and
  ``benchmarks/methods.py``, or :func:`load_plugin` ``("my_methods.py")`` in a notebook;
* a module on the Python path: ``--plugin mylab.mil_methods``;
* an installed package that declares an entry point in the group ``milhelpers.methods``
  (its ``pyproject.toml``)::

      [project.entry-points."milhelpers.methods"]
      mylab = "mylab.mil_methods"            # a module that registers on import
      # or "mylab.mil_methods:register_all"  # a function called without arguments

  Entry points are loaded the first time a method name is not found
  (:func:`~milhelpers.methods.get_method`), so an unused plugin costs nothing.

Loading the same file again does nothing unless the file changed; a changed file is imported
again and may replace methods that plugins registered before (never the package's own), so an
edited method is picked up in the same session — and, since its code fingerprint changed,
trained again by the runner.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import traceback
import warnings
from pathlib import Path
from types import ModuleType

__all__ = ["ENTRY_POINT_GROUP", "PluginError", "load_plugin", "load_entry_points"]

#: The entry-point group installed packages use to register methods.
ENTRY_POINT_GROUP = "milhelpers.methods"

#: plugin key (resolved file path or module name) -> (content digest, module, names registered)
_LOADED: dict[str, tuple[str, ModuleType, list[str]]] = {}
_ENTRY_POINTS_LOADED = False


class PluginError(ValueError):
    """A plugin that cannot be found or fails while it is imported (the message says where)."""


def _is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec or Path(spec).is_file()


def _where(err: BaseException, path: str | None) -> str:
    """' (line N)' of the innermost frame in the plugin's own file, where there is one."""
    if isinstance(err, SyntaxError):
        return f" (line {err.lineno})" if err.lineno else ""
    frames = traceback.extract_tb(err.__traceback__)
    own = [f for f in frames if path is not None and Path(f.filename) == Path(path)]
    frame = (own or frames[-1:] or [None])[-1]
    return f" (line {frame.lineno} of {Path(frame.filename).name})" if frame else ""


def load_plugin(spec: str | Path) -> list[str]:
    """Import a plugin — a ``.py`` file or a module name — and return the names of the methods
    it registered. Raises :class:`PluginError` naming the plugin when it cannot be found or
    fails while importing (the registry is left as it was)."""
    from . import methods

    spec = str(spec)
    if _is_file_spec(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise PluginError(f"plugin {spec}: no such file; give a .py file that registers "
                              "methods (milhelpers.methods.register), or a module name")
        path = path.resolve()
        key = str(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    else:
        path, key, digest = None, spec, ""
    if key in _LOADED and (path is None or _LOADED[key][0] == digest):
        return list(_LOADED[key][2])

    before = dict(methods.METHODS)
    # a plugin may register again what plugins registered before (its own earlier version, or
    # the same file from another place), never a method of the package itself
    replaceable = {n for _, _, names in _LOADED.values() for n in names}
    methods._REPLACEABLE.update(replaceable)
    try:
        if path is not None:
            name = f"milhelpers_plugin_{path.stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module       # so the plugin's classes can be pickled / inspected
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        else:
            try:
                module = importlib.import_module(spec)
            except ModuleNotFoundError as err:
                if err.name and spec.startswith(err.name):
                    raise PluginError(f"plugin {spec!r}: no file and no module of that name; "
                                      "give a .py file or an importable module (is its package "
                                      "installed, or its folder on PYTHONPATH?)") from None
                raise
    except PluginError:
        raise
    except Exception as err:
        methods.METHODS.clear()
        methods.METHODS.update(before)
        raise PluginError(f"plugin {spec} failed while importing{_where(err, key if path else None)}"
                          f": {type(err).__name__}: {err}") from err
    finally:
        methods._REPLACEABLE.difference_update(replaceable)
    names = sorted(n for n, m in methods.METHODS.items() if before.get(n) is not m)
    _LOADED[key] = (digest, module, names)
    return names


def load_entry_points() -> list[str]:
    """Load every ``milhelpers.methods`` entry point of the installed packages, once per
    process; returns the names of the methods they registered. One that fails is reported
    with a warning (naming its package) and the others still load."""
    global _ENTRY_POINTS_LOADED
    from . import methods

    if _ENTRY_POINTS_LOADED:
        return []
    _ENTRY_POINTS_LOADED = True
    before = dict(methods.METHODS)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            if callable(target) and not isinstance(target, ModuleType):
                target()
        except Exception as err:   # one broken package must not hide the others' methods
            dist = getattr(getattr(ep, "dist", None), "name", "?")
            warnings.warn(f"entry point {ep.name} = {ep.value} (package {dist}) of group "
                          f"{ENTRY_POINT_GROUP} failed: {type(err).__name__}: {err}",
                          RuntimeWarning, stacklevel=2)
    return sorted(n for n, m in methods.METHODS.items() if before.get(n) is not m)
