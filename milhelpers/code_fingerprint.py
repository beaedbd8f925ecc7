"""A fingerprint of the code a method runs, so a cached run is reused only for the same code.

:func:`code_fingerprint` hashes what actually runs — each function's *compiled* code (bytecode,
constants, names, argument names), not the text of its file — and follows what that code uses:

* the globals a function reads (a class it instantiates, a helper it calls, a dict of
  functions), the attributes it reads from a module of its own (``losses.aem_term``), its
  default arguments and the values its closure captured (numbers, other functions, other
  :class:`~milhelpers.methods.Method` objects);
* a class's methods, properties and class attributes, and its bases;
* objects held in closures: their class and their fields (a dataclass) or attributes — or what
  their ``_code_parts()`` returns where they define it: a
  :class:`~milhelpers.methods.Method` lists its callables and options, not its summary text.

Only code *in scope* is followed: the ``milhelpers`` package, the modules that define the
objects given, and any module loaded from a file outside the standard library and outside
``site-packages`` / ``dist-packages`` (your own modules, plugin files, a notebook's cells).
Library code (PyTorch, NumPy, scikit-learn, an installed plugin package's other modules) counts
by name only: upgrading a library does not change the fingerprint.

What does not change it: comments, blank lines, moving code within a file, docstrings of
functions and classes, a method's summary. What does: any edit of the code itself, including
renaming a local variable, and a different Python version (bytecode differs between versions).
Because the *loaded* code is hashed, editing a file without reloading it changes nothing until
the new code runs — the fingerprint never claims code that is not running. Captured values count
by content (a tensor by its numbers), so a callable that keeps mutable state in its closure (a
cache, a counter) changes its fingerprint as that state changes: keep such state out of a
method's callables.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["code_fingerprint", "covered_code"]

_SIMPLE = (type(None), bool, int, float, complex, str, bytes)
# class attributes that are derived from the code (or are documentation), not code themselves
_CLASS_SKIP = {"__dict__", "__weakref__", "__module__", "__doc__", "__qualname__",
               "__dataclass_fields__", "__dataclass_params__", "__match_args__",
               "__annotations__", "__parameters__", "__orig_bases__", "__abstractmethods__",
               "_abc_impl", "__slots__", "__firstlineno__", "__static_attributes__"}


@functools.lru_cache(maxsize=None)
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(str(Path(p).resolve()) for p in roots if p)


@functools.lru_cache(maxsize=4096)
def _is_own_file(filename: str) -> bool:
    """A module file that is neither the standard library nor an installed package."""
    parts = Path(filename).parts
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    resolved = str(Path(filename).resolve())
    return not any(resolved.startswith(root + "/") for root in _library_roots())


class _Hasher:
    def __init__(self, scope: Iterable[str]):
        self.scope = set(scope)
        self.memo: dict[int, str] = {}
        self.keep: list[Any] = []          # memo keys are ids: keep the objects alive
        self.covered: dict[str, str] = {}  # "module.qualname" -> its digest

    # -- scope -------------------------------------------------------------------------------
    def in_scope(self, module: str | None) -> bool:
        if not module:
            return False
        if module == "milhelpers" or module.startswith("milhelpers.") or module in self.scope:
            return True
        if module == "__main__":
            return True
        mod = sys.modules.get(module)
        file = getattr(mod, "__file__", None)
        return bool(file) and _is_own_file(file)

    # -- values ------------------------------------------------------------------------------
    def value(self, obj: Any) -> str:
        if isinstance(obj, _SIMPLE):
            return repr(obj)
        key = id(obj)
        if key in self.memo:
            return self.memo[key]
        self.keep.append(obj)
        # a placeholder while this object is being hashed: a reference back to it (a class whose
        # method names the class) gives this token instead of recursing for ever
        self.memo[key] = f"<cycle {type(obj).__qualname__}>"
        token = self._value(obj)
        self.memo[key] = token
        return token

    def _value(self, obj: Any) -> str:
        if isinstance(obj, (list, tuple)):
            return f"{type(obj).__name__}[" + ",".join(self.value(v) for v in obj) + "]"
        if isinstance(obj, dict):
            items = sorted((self.value(k), self.value(v)) for k, v in obj.items())
            return "dict{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
        if isinstance(obj, (set, frozenset)):
            return "set{" + ",".join(sorted(self.value(v) for v in obj)) + "}"
        if isinstance(obj, types.ModuleType):
            return f"module:{obj.__name__}"
        if isinstance(obj, functools.partial):
            return ("partial(" + self.value(obj.func) + "," + self.value(obj.args) + ","
                    + self.value(obj.keywords) + ")")
        if isinstance(obj, types.MethodType):
            return "bound(" + self.value(obj.__func__) + "," + self.value(obj.__self__) + ")"
        if isinstance(obj, (staticmethod, classmethod)):
            return f"{type(obj).__name__}(" + self.value(obj.__func__) + ")"
        if isinstance(obj, property):
            return "property(" + ",".join(self.value(f) for f in (obj.fget, obj.fset, obj.fdel)) + ")"
        if isinstance(obj, types.FunctionType):
            if not self.in_scope(obj.__module__):
                return f"lib:{obj.__module__}.{obj.__qualname__}"
            return self._digest(obj, self._function(obj))
        if isinstance(obj, type):
            if not self.in_scope(obj.__module__):
                return f"lib:{obj.__module__}.{obj.__qualname__}"
            return self._digest(obj, self._class(obj))
        if isinstance(obj, (types.BuiltinFunctionType, types.MethodDescriptorType,
                            types.WrapperDescriptorType, types.MethodWrapperType)):
            return f"builtin:{getattr(obj, '__qualname__', type(obj).__name__)}"
        if isinstance(obj, np.ndarray):
            return self._array(obj)
        if type(obj).__module__ == "torch" and type(obj).__name__ in ("Tensor", "Parameter"):
            return self._array(obj.detach().cpu().numpy())
        return self._instance(obj)

    def _array(self, a: np.ndarray) -> str:
        a = np.ascontiguousarray(a)
        return f"array({a.dtype},{a.shape},{hashlib.sha256(a.tobytes()).hexdigest()[:16]})"

    def _instance(self, obj: Any) -> str:
        cls = type(obj)
        parts = getattr(obj, "_code_parts", None)
        if callable(parts) and self.in_scope(cls.__module__):
            return f"obj:{cls.__qualname__}(" + self.value(parts()) + ")"
        head = self.value(cls)
        if not self.in_scope(cls.__module__):
            return f"obj:{head}"           # a library object: its type only (reprs may hold ids)
        if dataclasses.is_dataclass(obj):
            fields = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
            return f"obj:{head}(" + ",".join(f"{n}={self.value(v)}" for n, v in fields) + ")"
        state = getattr(obj, "__dict__", None)
        if isinstance(state, dict):
            return f"obj:{head}(" + self.value(state) + ")"
        return f"obj:{head}"

    def _digest(self, obj: Any, text: str) -> str:
        digest = hashlib.sha256(text.encode()).hexdigest()
        self.covered[f"{obj.__module__}.{obj.__qualname__}"] = digest
        return f"code:{obj.__qualname__}:{digest[:24]}"

    # -- code --------------------------------------------------------------------------------
    def _function(self, fn: types.FunctionType) -> str:
        parts = ["fn", self._code(fn.__code__, fn.__globals__, doc=fn.__doc__),
                 "defaults", self.value(fn.__defaults__), self.value(fn.__kwdefaults__)]
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:          # a cell not yet filled
                contents = "<empty cell>"
            parts.append(f"closure {name}={self.value(contents)}")
        return "\n".join(parts)

    def _code(self, code: types.CodeType, globals_: dict, doc: str | None = None) -> str:
        consts = list(code.co_consts)
        if doc is not None and consts and consts[0] == doc:
            consts = consts[1:]        # a docstring edit does not retrain
        parts = [code.co_code.hex(), repr(code.co_varnames), repr(code.co_freevars),
                 f"{code.co_argcount},{code.co_posonlyargcount},{code.co_kwonlyargcount},"
                 f"{code.co_flags}", "names " + repr(code.co_names)]
        for c in consts:
            if isinstance(c, types.CodeType):
                parts.append("code{" + self._code(c, globals_) + "}")
            elif isinstance(c, frozenset):
                parts.append("frozenset{" + ",".join(sorted(map(repr, c))) + "}")
            else:
                parts.append(repr(c))
        names = set(code.co_names)
        for name in sorted(names):
            if name not in globals_:
                continue              # a builtin, or an attribute name
            target = globals_[name]
            if isinstance(target, types.ModuleType):
                if self.in_scope(target.__name__):
                    # the module's attributes this code reads (``losses.aem_term``)
                    used = sorted(n for n in names if n != name and hasattr(target, n)
                                  and not isinstance(getattr(target, n), types.ModuleType))
                    parts += [f"global {name}.{n}={self.value(getattr(target, n))}"
                              for n in used]
                else:
                    parts.append(f"global {name}=module:{target.__name__}")
                continue
            parts.append(f"global {name}={self.value(target)}")
        return "\n".join(parts)

    def _class(self, cls: type) -> str:
        # the class's name, not its module's: a module moved or loaded under another name
        # (a plugin file in another folder) holds the same code
        parts = [f"class {cls.__qualname__}",
                 "bases " + ",".join(self.value(b) for b in cls.__bases__),
                 "fields " + repr(sorted(vars(cls).get("__annotations__", {})))]
        for name, attr in sorted(vars(cls).items()):
            if name in _CLASS_SKIP:
                continue
            parts.append(f"{name}={self.value(attr)}")
        return "\n".join(parts)


def _modules_of(objects: Iterable[Any]) -> set[str]:
    out = set()
    for obj in objects:
        target = getattr(obj, "__func__", obj)
        if isinstance(target, functools.partial):
            target = target.func
        module = getattr(target, "__module__", None) or type(target).__module__
        if module:
            out.add(module)
    return out


def _hasher(objects: Sequence[Any]) -> tuple[_Hasher, list[str]]:
    h = _Hasher(_modules_of(objects))
    return h, [h.value(o) for o in objects]


def code_fingerprint(*objects: Any) -> str:
    """A hex SHA-256 of the code behind ``objects`` (functions, classes, methods, dataclass
    instances such as a :class:`~milhelpers.methods.Method`) and of everything in scope they
    reach (see the module docstring). The same code gives the same fingerprint in every process
    (nothing depends on memory addresses or on hash randomisation)."""
    _, tokens = _hasher(objects)
    return hashlib.sha256("\n".join(tokens).encode()).hexdigest()


def covered_code(*objects: Any) -> dict[str, str]:
    """``"module.qualname" -> digest`` of every function and class :func:`code_fingerprint`
    hashed by its code for ``objects`` (library code, counted by name only, is not listed):
    what an edit must touch to change the fingerprint."""
    return dict(sorted(_hasher(objects)[0].covered.items()))

