"""Checks for the book's exercises: one call per check, a message a student can act on, a verdict the
grader can recompute in its own process.

A test cell calls :func:`check_function` with the student's function, a set of cases and a reference::

    from actlab import checks
    checks.check_function(
        stable_sigmoid,
        checks.cases.elementwise(seed=0, dtypes=("float32", "float64"), extremes=True),
        reference="actlab.numpy_ref.sigmoid",      # an importable dotted name (or a function in actlab)
        exercise="ex1-sigmoid", name="hidden: random and extreme inputs",
        forbid=("torch.sigmoid", "scipy.special.expit", "actlab"),
        no_warnings=True, hint="exp(-x) overflows for large negative x: use the two-branch form.")

What one check does
1. **Computes** the student's outputs on every case (inside the kernel), catching exceptions per case and
   recording (not failing on) the warnings that correct code may emit. ``adapter`` says how to call:
   ``"numpy"`` (as is), ``"torch"`` (array arguments become tensors), ``"torch_grad"`` (forward and the
   gradient of ``sum(y)`` by autograd, for an ``autograd.Function`` with a hand-written backward).
2. **Compares** them with the reference (``numpy.isclose`` with a tolerance that depends on the dtype, or
   ``normwise``; shapes and dtypes must match; integers exactly), after an optional ``evaluate`` step that
   turns a returned object into numbers (e.g. runs the network whose weights the student returned), and
   raises ``AssertionError`` with a message that names the case, shows expected vs got at the worst entry
   and the input there, and adds the case's and the check's hints::

       ex1-sigmoid [hidden: random and extreme inputs]: 1 of 26 case(s) failed.
         case 'x = -1000 (float32)': expected 0.0, got nan; tolerance rtol=1e-05, atol=1e-06
         Hint: an extreme input: exp(|x|) overflows here (beyond 88.7 in float32, 709.8 in float64); ...
         Hint: exp(-x) overflows for large negative x: use the two-branch form.

3. **Emits one record** per check: an IPython ``display_data`` with MIME type :data:`MIME` (plus a one-line
   ``text/plain`` summary such as ``✔ ex1-sigmoid [visible: ...]: 3 cases passed``; a no-op outside
   IPython) that holds the check's *spec* (exercise, name, the cases as a generator name + keyword
   arguments or as literal arrays, the reference, tolerances, ...) and the student's outputs encoded
   losslessly (base64 ``.npy``). :func:`verify` recomputes the verdict from a record alone, in any process:
   every name in a spec is importable (``resolve`` only imports names under ``actlab.``, ``numpy.``,
   ``scipy.special.``, ``math.``) and generators are seeded. :func:`collect_specs` rebuilds the specs of a
   test cell without running anything (the grader's trusted copy); :func:`capture` collects records
   outside IPython (tests).

Conventions for test cells (so that the grader can rebuild them): only ``checks.*`` calls, no bare
``assert``; every check has a unique ``name`` within its exercise; cases come from :class:`cases` generators
(or ``@case_generator`` functions in ``actlab.exercises.chNN``) or from :func:`cases.literal`.

"From scratch": ``forbid=`` lists what the solution must not use: a function (``"numpy.maximum"``,
``"torch.relu"``), a whole module (``"actlab"``, ``"scipy.special"``) or an ATen op (``"aten.relu"``).
Functions and modules are found by a static scan of the solution's code objects and the globals, closure
cells, defaults and in-function imports they reference, recursively into helpers the student wrote; torch
calls are also recorded while the solution runs (``TorchDispatchMode``), whatever route reached them. The
first check with a torch entry in ``forbid`` costs about a second per kernel (entering a dispatch mode
imports ``torch._dynamo``): use torch entries in hidden tests, not in the visible ones.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import dis
import functools
import hashlib
import importlib
import inspect
import io
import json
import math
import os
import sys
import traceback
import types
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = ["MIME", "SCHEMA", "Case", "CaseSet", "Verdict", "case", "cases", "case_generator",
           "check_function", "verify", "compare", "scan_forbidden", "encode", "decode", "resolve",
           "capture", "collect_specs", "rebuild_cases"]

MIME = "application/vnd.actlab.check+v1+json"
SCHEMA = "actlab.check/v1"
ALLOWED_PREFIXES = ("actlab.", "numpy.", "scipy.special.", "math.")

# (rtol, atol) by the expected output's dtype; integers and booleans compare exactly.
DEFAULT_TOL = {"float16": (1e-3, 1e-4), "float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}

class _Missing:
    """No value given (a case without ``expected``; a name that did not resolve)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


# --------------------------------------------------------------------------- dotted names
def resolve(name: str, allowed: Sequence[str] | None | str = "default") -> Any:
    """Import ``"pkg.module.attr.attr"`` and return the object. Only names under ``allowed`` prefixes
    (default: :data:`ALLOWED_PREFIXES`; ``None``: any)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"expected a dotted name, got {name!r}")
    if allowed == "default":
        allowed = ALLOWED_PREFIXES
    if allowed is not None and not name.startswith(tuple(allowed)):
        raise ValueError(f"{name!r} is not under an allowed prefix {tuple(allowed)}")
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {name!r}")


def dotted_name(obj: Any) -> str:
    """The importable dotted name of ``obj`` (a string is checked to resolve); raises if it does not round-trip."""
    if isinstance(obj, str):
        resolve(obj)
        return obj
    name = f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}"
    try:
        ok = resolve(name) is obj
    except Exception:
        ok = False
    if not ok:
        raise TypeError(f"{obj!r} is not importable by a dotted name under {ALLOWED_PREFIXES}; references, "
                        "evaluators and generators must live in actlab so the grader can import them")
    return name


# --------------------------------------------------------------------------- lossless encoding
def _npy(a: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _unnpy(s: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(s)), allow_pickle=False)


def encode(obj: Any) -> Any:
    """Encode a value (arrays, tensors, numbers, tuples, lists, str-keyed dicts) as JSON, losslessly."""
    if obj is None:
        return {"t": "none"}
    if isinstance(obj, (bool, np.bool_)) and not isinstance(obj, np.ndarray):
        return {"t": "bool", "v": bool(obj)}
    if isinstance(obj, int):
        return {"t": "int", "v": obj}
    if isinstance(obj, float):
        return {"t": "float", "v": obj.hex()}
    if isinstance(obj, str):
        return {"t": "str", "v": obj}
    if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
        return {"t": "npscalar", "npy": _npy(np.asarray(obj))}
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc":
        return {"t": "ndarray", "npy": _npy(obj)}
    if type(obj).__module__.startswith("torch") and type(obj).__name__ in ("Tensor", "Parameter"):
        t = obj.detach().cpu()
        dtype = str(t.dtype)
        if t.dtype.is_floating_point and t.element_size() < 4 and dtype != "torch.float16":
            t = t.float()  # bfloat16 etc. have no numpy dtype; float32 holds them exactly
        return {"t": "tensor", "dtype": dtype, "npy": _npy(t.numpy())}
    if isinstance(obj, (tuple, list)):
        return {"t": type(obj).__name__, "items": [encode(o) for o in obj]}
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return {"t": "dict", "items": {k: encode(v) for k, v in obj.items()}}
    return {"t": "object", "type": f"{type(obj).__module__}.{type(obj).__qualname__}", "repr": repr(obj)[:200]}


@dataclasses.dataclass(frozen=True)
class Opaque:
    """A decoded value that has no lossless encoding (its type and a repr)."""
    type: str
    repr: str


@dataclasses.dataclass(frozen=True)
class TensorValue:
    """A decoded torch tensor: its values as a numpy array and its torch dtype."""
    array: np.ndarray
    dtype: str


def decode(tree: Any) -> Any:
    """Inverse of :func:`encode` (tensors come back as :class:`TensorValue`)."""
    t = tree["t"]
    if t == "none":
        return None
    if t in ("bool", "int", "str"):
        return tree["v"]
    if t == "float":
        return float.fromhex(tree["v"])
    if t == "npscalar":
        return _unnpy(tree["npy"])[()]
    if t == "ndarray":
        return _unnpy(tree["npy"])
    if t == "tensor":
        return TensorValue(_unnpy(tree["npy"]), tree["dtype"])
    if t in ("tuple", "list"):
        items = [decode(o) for o in tree["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        return {k: decode(v) for k, v in tree["items"].items()}
    if t == "object":
        return Opaque(tree["type"], tree["repr"])
    raise ValueError(f"unknown encoded type {t!r}")


# --------------------------------------------------------------------------- cases
@dataclasses.dataclass
class Case:
    """One input: ``fn(*args, **kwargs)``; ``expected`` (optional) replaces the reference; ``hint`` is added
    to the message when this case fails."""
    id: str
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    expected: Any = _MISSING
    hint: str = ""

    def encode(self) -> dict:
        d = {"id": self.id, "args": encode(tuple(self.args)), "kwargs": encode(dict(self.kwargs)),
             "hint": self.hint}
        if self.has_expected:
            d["expected"] = encode(self.expected)
        return d

    @classmethod
    def decode(cls, d: dict) -> "Case":
        def plain(v):  # tensors in inputs are not supported; literal args are numpy/python values
            return v.array if isinstance(v, TensorValue) else v
        return cls(d["id"], tuple(plain(a) for a in decode(d["args"])), decode(d["kwargs"]),
                   decode(d["expected"]) if "expected" in d else _MISSING, d.get("hint", ""))

    @property
    def has_expected(self) -> bool:
        return self.expected is not _MISSING


def case(id: str, *args: Any, expected: Any = _MISSING, hint: str = "", **kwargs: Any) -> Case:
    """Shorthand: ``case("x = 0", np.array(0.0), expected=0.5)``."""
    return Case(id, args, kwargs, expected, hint)


@dataclasses.dataclass
class CaseSet:
    """Cases plus the spec that rebuilds them: ``{"generator": name, "kwargs": {...}}`` or ``{"literal": [...]}``."""
    cases: list
    spec: dict

    def __iter__(self):
        return iter(self.cases)

    def __len__(self):
        return len(self.cases)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"case generator arguments must be JSON values, got {type(v).__name__}")


def case_generator(fn: Callable[..., list]) -> Callable[..., CaseSet]:
    """Decorator for a seeded, keyword-only case generator: calling it returns a :class:`CaseSet` whose spec
    (the generator's dotted name and its JSON keyword arguments) rebuilds the same cases in another process.
    The generator must live in an importable module under ``actlab`` and be deterministic."""
    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> CaseSet:
        bound = inspect.signature(fn).bind(**kwargs)
        bound.apply_defaults()
        kw = _jsonable(dict(bound.arguments))
        return CaseSet(list(fn(**kw)), {"generator": f"{fn.__module__}.{fn.__qualname__}", "kwargs": kw})
    wrapper.is_case_generator = True
    return wrapper


def rebuild_cases(spec: dict) -> list:
    """The cases a spec describes (``spec["cases"]`` of a record, or that dict itself)."""
    spec = spec.get("cases", spec)
    if "literal" in spec:
        return [Case.decode(d) for d in spec["literal"]]
    gen = resolve(spec["generator"])
    if not getattr(gen, "is_case_generator", False):
        raise ValueError(f"{spec['generator']} is not a @case_generator")
    return gen(**spec["kwargs"]).cases


def _digest(cs: Iterable[Case]) -> str:
    blob = json.dumps([c.encode() for c in cs], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_EXTREME_HINT = ("an extreme input: exp(|x|) overflows here (beyond 88.7 in float32, 709.8 in float64); "
                 "rewrite the formula so that it only exponentiates numbers <= 0")


class cases:
    """Seeded case generators shared by every chapter (chapter-specific ones live in
    ``actlab.exercises.chNN``)."""

    @staticmethod
    def literal(*items: Case | Sequence[Case]) -> CaseSet:
        """Cases given explicitly (small arrays): ``cases.literal(case("x = 0", np.array(0.0)), ...)``."""
        flat = [c for it in items for c in ([it] if isinstance(it, Case) else it)]
        return CaseSet(flat, {"literal": [c.encode() for c in flat]})

    @staticmethod
    @case_generator
    def elementwise(*, seed: int = 0, dtypes: Sequence[str] = ("float32", "float64"), extremes: bool = True,
                    shapes: Sequence[Sequence[int]] = ((), (16,), (4, 8)), scale: float = 3.0,
                    infinities: bool = False, low: float | None = None, high: float | None = None) -> list:
        """Inputs for an elementwise function ``f(x)``, per dtype: normal(0, scale) arrays of each shape,
        log-uniform magnitudes in [1e-3, 1e3] with random signs, signed zeros, and (``extremes``) the single
        values ±1000, ±(the dtype's exp overflow + 1), ±30, ±1e-7 (each its own case), optionally ±inf.
        ``low``/``high`` restrict the domain (random values are drawn uniformly in it, extremes outside it
        are dropped)."""
        rng = np.random.default_rng(seed)
        out = []
        for dt in dtypes:
            dtype = np.dtype(dt)

            def draw(shape):
                if low is not None or high is not None:
                    lo = -scale if low is None else low
                    hi = scale if high is None else high
                    return rng.uniform(lo, hi, size=shape)
                return rng.normal(0.0, scale, size=shape)

            for shape in shapes:
                shape = tuple(shape)
                out.append(Case(f"random, shape {shape} ({dt}, seed {seed})", (draw(shape).astype(dtype),)))
            if low is None and high is None:
                mags = 10.0 ** rng.uniform(-3, 3, size=32) * rng.choice([-1.0, 1.0], size=32)
                out.append(Case(f"magnitudes 1e-3..1e3 ({dt}, seed {seed})", (mags.astype(dtype),)))
                out.append(Case(f"x = [0, -0] ({dt})", (np.array([0.0, -0.0], dtype=dtype),)))
            if extremes:
                edge = 90.0 if dtype.itemsize <= 4 else 710.0
                values = [-1000.0, -edge, -30.0, -1e-7, 1e-7, 30.0, edge, 1000.0]
                values += [-np.inf, np.inf] if infinities else []
                for v in values:
                    if (low is not None and v < low) or (high is not None and v > high):
                        continue
                    hint = _EXTREME_HINT if abs(v) >= 30 else "a tiny input: watch for cancellation"
                    out.append(Case(f"x = {v:g} ({dt})", (np.array(v, dtype=dtype),), hint=hint))
        return out


# --------------------------------------------------------------------------- comparison
def _describe(v: Any) -> str:
    if v is None:
        return "None (did you forget to `return` the result?)"
    if isinstance(v, TensorValue):
        return f"a torch tensor of shape {tuple(v.array.shape)} and dtype {v.dtype}"
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape} and dtype {v.dtype}"
    if isinstance(v, Opaque):
        return f"a {v.type}: {v.repr}"
    if isinstance(v, (tuple, list)):
        return f"a {type(v).__name__} of {len(v)} items"
    return f"a {type(v).__name__} ({v!r})"


def _fmt(v: Any) -> str:
    """A number as a student would write it (float32 values with float32 precision)."""
    if isinstance(v, np.generic) and v.dtype.kind == "f" and v.dtype.itemsize < 8:
        return str(v)
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (float, int, bool)):
        return repr(v)
    a = np.asarray(v)
    return str(a[()]) if a.ndim == 0 else np.array2string(a, precision=6, threshold=8)


def _tol(dtype: np.dtype, rtol: float | None, atol: float | None) -> tuple[float, float]:
    r, a = DEFAULT_TOL.get(np.dtype(dtype).name, (0.0, 0.0) if np.dtype(dtype).kind in "biu" else DEFAULT_TOL["float64"])
    return (r if rtol is None else rtol), (a if atol is None else atol)


def compare(got: Any, expected: Any, *, rtol: float | None = None, atol: float | None = None,
            check_dtype: bool = True, normwise: bool = False, names: Sequence[str] | None = None,
            label: str = "", x: Any = None) -> str | None:
    """``None`` if ``got`` matches ``expected``, else what differs (one sentence, worst entry first).

    Tuples/lists compare item by item (``names`` label them); integers and booleans exactly; arrays need
    the same shape, the same dtype (``check_dtype``, only when ``expected`` is a numpy value), and values
    within ``isclose(rtol, atol)`` (``DEFAULT_TOL`` by dtype) with NaN and ±inf where expected, or with
    ``normwise`` ``max|got - expected| <= atol + rtol * max|expected|``. ``x`` (an input of the same shape)
    lets the message name the input at the worst entry (``x`` may have extra trailing axes: a row per entry)."""
    lab = f"{label}: " if label else ""
    if isinstance(got, TensorValue):
        got = got.array
    if isinstance(expected, (tuple, list)):
        nm = list(names) if names else [f"output {i}" for i in range(len(expected))]
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"{lab}expected a tuple of {len(expected)} ({', '.join(nm)}), got {_describe(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            err = compare(g, e, rtol=rtol, atol=atol, check_dtype=check_dtype, normwise=normwise,
                          label=nm[i] if i < len(nm) else f"output {i}")
            if err:
                return err
        return None
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(got, (bool, np.bool_)) or bool(got) != bool(expected):
            return f"{lab}expected {bool(expected)}, got {_describe(got)}"
        return None
    if isinstance(expected, (int, np.integer)):
        ok = (isinstance(got, (int, np.integer, float, np.floating)) and not isinstance(got, (bool, np.bool_))
              and np.isfinite(got) and float(got) == int(got))
        if not ok:
            return f"{lab}expected the integer {int(expected)}, got {_describe(got)}"
        if int(got) != int(expected):
            return f"{lab}expected {int(expected)}, got {int(got)}"
        return None
    if isinstance(got, (Opaque, str, dict)) or got is None:
        return f"{lab}expected {_describe(np.asarray(expected))}, got {_describe(got)}"
    try:
        g = np.asarray(got)
    except Exception:
        return f"{lab}expected an array, got {_describe(got)}"
    e = np.asarray(expected)
    if g.dtype.kind not in "biuf":
        return f"{lab}expected real numbers, got {_describe(got)}"
    if g.shape != e.shape:
        return f"{lab}expected shape {e.shape}, got shape {g.shape}"
    if check_dtype and isinstance(expected, (np.ndarray, np.generic)) and g.dtype != e.dtype:
        return (f"{lab}expected dtype {e.dtype} (the same as the input), got {g.dtype}; keep the input's dtype "
                "(no float64 constants or np.array(...) copies without dtype=x.dtype)")
    r, a = _tol(e.dtype, rtol, atol)
    g64, e64 = g.astype(np.float64), e.astype(np.float64)
    with np.errstate(all="ignore"):
        err = np.abs(g64 - e64)
        if normwise:
            fin = np.isfinite(e64)
            scale = np.max(np.abs(e64[fin]), initial=0.0)
            bad = ~np.isfinite(g64) & fin | (np.isfinite(e64) & (err > a + r * scale))
            bad |= ~fin & ~((g64 == e64) | (np.isnan(g64) & np.isnan(e64)))
        else:
            bad = ~np.isclose(g64, e64, rtol=r, atol=a, equal_nan=True)
    if not bad.any():
        return None
    key = np.where(bad, np.nan_to_num(err, nan=np.inf, posinf=np.inf), -1.0)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(key)), bad.shape)) if bad.ndim else ()
    where = f" at index {idx}" if bad.ndim else ""
    if x is not None and bad.ndim and np.shape(x)[:bad.ndim] == bad.shape:
        where = f" at x{list(idx)} = {_fmt(np.asarray(x)[idx])}"
    count = f" ({int(bad.sum())} of {bad.size} entries differ)" if bad.size > 1 else ""
    how = f"normwise rtol={r:g}, atol={a:g}" if normwise else f"rtol={r:g}, atol={a:g}"
    return f"{lab}expected {_fmt(e[idx])}, got {_fmt(g[idx])}{where}{count}; tolerance {how}"


# --------------------------------------------------------------------------- "from scratch"
_BOOKKEEPING_OPS = {"detach", "lift_fresh", "alias", "view", "_to_copy", "clone", "copy_", "empty_like",
                    "ones_like", "zeros_like", "expand", "scalar_tensor", "_local_scalar_dense", "linspace",
                    "empty", "t", "resolve_conj", "resolve_neg"}


def _record_ops():
    """A TorchDispatchMode that records the ATen op names executed inside it."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops: set[str] = set()

        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            self.ops.add(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))
    return Recorder()


def _aten_names(entry: str, obj: Any) -> set[str]:
    """ATen op names a torch callable reaches: its own name (and ``_name``, ``name_``) plus a probe call."""
    name = entry.rsplit(".", 1)[-1].removeprefix("special_")
    names = {name, f"_{name}", f"{name}_"}
    if isinstance(obj, type):
        return {name.lower()}
    try:
        import torch
        rec = _record_ops()
        with rec, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj(torch.linspace(-2.0, 2.0, 5, dtype=torch.float64))
        names |= rec.ops - _BOOKKEEPING_OPS
    except Exception:
        pass
    return names


@dataclasses.dataclass
class _Forbidden:
    ids: dict            # id(obj) -> the forbid entry that covers it
    keep: list           # the objects (keeps ids valid)
    prefixes: list       # forbidden module names (everything defined under them)
    aten: dict           # ATen op name -> the forbid entry

    def match(self, obj: Any) -> str | None:
        if id(obj) in self.ids:
            return self.ids[id(obj)]
        if isinstance(obj, types.ModuleType):
            return None
        mod = getattr(obj, "__module__", None)
        if isinstance(mod, str) and callable(obj):
            for p in self.prefixes:
                if mod == p or mod.startswith(p + "."):
                    return f"{mod}.{getattr(obj, '__qualname__', getattr(obj, '__name__', obj))}"
        return None


@functools.lru_cache(maxsize=64)
def _forbidden_table(forbid: tuple) -> _Forbidden:
    table = _Forbidden({}, [], [], {})
    for entry in forbid:
        if entry.startswith("aten."):
            table.aten[entry[5:]] = entry
            continue
        try:
            obj = resolve(entry, allowed=None)
        except Exception:
            continue  # not installed here: nothing to forbid
        if isinstance(obj, types.ModuleType):
            table.prefixes.append(obj.__name__)
            for mname, mod in list(sys.modules.items()):
                if mod is None or not (mname == obj.__name__ or mname.startswith(obj.__name__ + ".")):
                    continue
                for attr, v in list(vars(mod).items()):
                    if callable(v) and not isinstance(v, types.ModuleType) and getattr(v, "__module__", None) is None:
                        table.ids[id(v)] = f"{mname}.{attr}"
                        table.keep.append(v)
            if obj.__name__ == "torch":
                table.aten["*"] = entry
        else:
            table.ids[id(obj)] = entry
            table.keep.append(obj)
            if entry.startswith("torch."):
                for n in _aten_names(entry, obj):
                    table.aten.setdefault(n, entry)
    return table


def _is_user_path(path: str) -> bool:
    """A file the student wrote (a notebook cell, a test file), not a library's or the standard library's."""
    if path.startswith("<") or not os.path.isabs(path):
        return True
    here = os.path.dirname(os.path.abspath(__file__))
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, here)}
    real = os.path.realpath(path)
    return not any(real == r or real.startswith(r + os.sep) for r in roots)


def _is_user_code(fn: types.FunctionType) -> bool:
    return _is_user_path(fn.__code__.co_filename)


def _user_class(cls: type) -> bool:
    return any(isinstance(getattr(m, "__func__", m), types.FunctionType) and _is_user_code(getattr(m, "__func__", m))
               for m in vars(cls).values())


def _code_objects(code: types.CodeType):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _code_objects(c)


def scan_forbidden(fn: Any, forbid: Sequence[str]) -> list[str]:
    """Static scan: the forbid entries that ``fn`` (a function, class, bound method, partial or object with
    ``__call__``) references, with where (``"numpy.maximum (in relu → _helper)"``). Follows the globals,
    closure cells, defaults and in-function imports of every code object, recursively into helper functions
    and classes the student defined. Dynamic tricks (``getattr(np, "max" + "imum")``) are out of its reach."""
    table = _forbidden_table(tuple(forbid))
    found: dict[str, str] = {}
    seen: set[int] = set()

    def flag(obj: Any, path: str, child: str | None = None) -> None:
        """Record ``obj`` if forbidden (used in ``path``), then look inside it (a helper: ``path → name``)."""
        hit = table.match(obj)
        if hit and hit not in found:
            found[hit] = path
        name = getattr(obj, "__name__", None)
        visit(obj, child or (f"{path} → {name}" if isinstance(obj, (types.FunctionType, type)) and name else path))

    def visit(obj: Any, path: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, functools.partial):
            flag(obj.func, path)
            for a in list(obj.args) + list(obj.keywords.values()):
                flag(a, path)
            return
        if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
            flag(obj.__func__, path)
            owner = getattr(obj, "__self__", None)  # MyFunction.apply: scan the student's class too
            if owner is not None and not isinstance(owner, types.ModuleType):
                flag(owner if isinstance(owner, type) else type(owner), path)
            return
        if isinstance(obj, type):
            for klass in obj.__mro__:
                for name, member in vars(klass).items():
                    f = getattr(member, "__func__", member)
                    if isinstance(f, types.FunctionType) and _is_user_code(f):
                        flag(f, path, child=f"{path}.{name}")
            return
        if not isinstance(obj, types.FunctionType):
            if not isinstance(obj, (types.ModuleType, types.BuiltinFunctionType)) and _user_class(type(obj)):
                visit(type(obj), path)  # a callable object or nn.Module instance the student defined
            return
        if not _is_user_code(obj):
            return
        for d in list(obj.__defaults__ or ()) + list((obj.__kwdefaults__ or {}).values()):
            flag(d, path)
        cells = dict(zip(obj.__code__.co_freevars, obj.__closure__ or ()))
        g, builtins = obj.__globals__, obj.__globals__.get("__builtins__", {})
        builtins = vars(builtins) if isinstance(builtins, types.ModuleType) else builtins
        for code in _code_objects(obj.__code__):
            where = path if code is obj.__code__ else f"{path} → {code.co_name}"
            local: dict[str, Any] = {}
            cur: Any = _MISSING
            imported: Any = _MISSING
            prev_const: Any = None
            for ins in dis.get_instructions(code):
                op, arg = ins.opname, ins.argval
                nxt: Any = _MISSING
                if op in ("LOAD_GLOBAL", "LOAD_NAME"):
                    nxt = g.get(arg, builtins.get(arg, _MISSING))
                elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_CLOSURE"):
                    try:
                        nxt = cells[arg].cell_contents if arg in cells else _MISSING
                    except ValueError:
                        nxt = _MISSING
                elif op in ("LOAD_FAST", "LOAD_FAST_CHECK"):
                    nxt = local.get(arg, _MISSING)
                elif op in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(cur, (types.ModuleType, type)):
                    try:
                        nxt = getattr(cur, arg)
                    except Exception:  # noqa: BLE001
                        nxt = _MISSING
                elif op == "IMPORT_NAME":
                    top = sys.modules.get(arg.split(".")[0], _MISSING)
                    nxt = sys.modules.get(arg, _MISSING) if prev_const else top
                    imported = nxt  # what IMPORT_FROM reads attributes from
                elif op == "IMPORT_FROM" and imported is not _MISSING:
                    nxt = getattr(imported, arg, sys.modules.get(f"{getattr(imported, '__name__', '')}.{arg}", _MISSING))
                elif op in ("STORE_FAST", "STORE_NAME", "STORE_DEREF") and cur is not _MISSING:
                    local[arg] = cur
                prev_const = arg if op == "LOAD_CONST" else None
                cur = nxt
                if nxt is not _MISSING:
                    flag(nxt, where)

    root = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    flag(fn, root, child=root)
    return [f"{k} (in {v})" for k, v in found.items()]


# --------------------------------------------------------------------------- calling the student's code
def _to_numpy(out: Any) -> Any:
    if type(out).__module__.startswith("torch") and type(out).__name__ in ("Tensor", "Parameter"):
        return out  # encoded as a tensor (keeps its torch dtype for the record)
    if isinstance(out, (tuple, list)):
        return type(out)(_to_numpy(o) for o in out)
    return out


def _call_numpy(fn: Callable, c: Case) -> Any:
    return fn(*c.args, **c.kwargs)


def _call_torch(fn: Callable, c: Case) -> Any:
    import torch
    args = [torch.tensor(a) if isinstance(a, (np.ndarray, np.generic)) else a for a in c.args]
    return _to_numpy(fn(*args, **c.kwargs))


def _upstream(shape: tuple, dtype) -> "torch.Tensor":
    """The upstream gradient ``_call_torch_grad`` backpropagates: 2, −4, 4, −2, ... (powers of two, so scaling
    by it and dividing it out again are exact in every dtype; not all ones, so a backward that ignores
    ``grad_output`` gets the wrong gradient)."""
    import torch
    n = math.prod(shape)
    return torch.tensor([2.0, -4.0, 4.0, -2.0] * (n // 4 + 1), dtype=dtype)[:n].reshape(shape)


def _call_torch_grad(fn: Callable, c: Case) -> Any:
    """``(fn(x), d sum(fn(x)) / dx)`` for a torch function of its first argument.

    The gradient is computed by backpropagating an upstream gradient that is not all ones (:func:`_upstream`'s
    pattern, or −2 where the output's shape differs from x's) and dividing it out of ``x.grad`` again."""
    import torch
    x = torch.tensor(np.asarray(c.args[0]), requires_grad=True)
    rest = [torch.tensor(a) if isinstance(a, np.ndarray) else a for a in c.args[1:]]
    y = fn(x, *rest, **c.kwargs)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(y).__name__}")
    if not y.requires_grad:
        raise RuntimeError("the output does not depend on x through autograd (did you call .detach(), "
                           ".numpy() or build a new tensor inside forward's caller?)")
    # elementwise: a pattern divided out element by element; otherwise (e.g. a gate halving the last axis) -2
    g = _upstream(tuple(y.shape), y.dtype) if y.shape == x.shape else torch.full_like(y, -2.0)
    y.backward(g)
    if x.grad is None:
        raise RuntimeError("no gradient reached x: make backward return one gradient per input of forward")
    return y.detach(), x.grad / (g.to(x.grad.dtype) if y.shape == x.shape else -2.0)


ADAPTERS: dict[str, Callable[[Callable, Case], Any]] = {
    "numpy": _call_numpy, "torch": _call_torch, "torch_grad": _call_torch_grad}


def _student_frame(exc: BaseException) -> str:
    """`` (line 3 in relu: return x.clip(0))``: the innermost frame of the student's own code."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename != __file__ and _is_user_path(f.filename)]
    if not frames:
        return ""
    f = frames[-1]
    line = (f.line or "").strip()
    return f" (line {f.lineno} in {f.name}" + (f": {line})" if line else ")")


# --------------------------------------------------------------------------- records and verdicts
@dataclasses.dataclass
class Verdict:
    passed: bool
    message: str
    failed: list            # ids of the failed cases ("<forbidden>" when a forbidden call was found)
    n_cases: int


_LISTENERS: list[list] = []
_COLLECTORS: list[list] = []


@contextlib.contextmanager
def capture():
    """Collect the records emitted inside the block (also outside IPython): ``with capture() as recs: ...``."""
    recs: list[dict] = []
    _LISTENERS.append(recs)
    try:
        yield recs
    finally:
        _LISTENERS.remove(recs)


@contextlib.contextmanager
def collect_specs():
    """Inside this block checks do not run: each call appends its spec and returns. The grader executes a
    test cell's source this way (student functions bound to dummies) to rebuild its checks independently."""
    specs: list[dict] = []
    _COLLECTORS.append(specs)
    try:
        yield specs
    finally:
        _COLLECTORS.remove(specs)


def _emit(record: dict) -> None:
    for recs in _LISTENERS:
        recs.append(record)
    try:
        from IPython import get_ipython
        if get_ipython() is None:
            return
        from IPython.display import display
    except ImportError:
        return
    mark = "✔" if record["passed"] else "✘"
    n, f = len(record["case_ids"]), len(record.get("failed", []))
    text = f"{mark} {record['exercise']} [{record['name']}]: " + (
        f"{n} case{'s' if n != 1 else ''} passed" if record["passed"] else f"{f} of {n} failed")
    if record["warnings"] and not record["no_warnings"]:
        text += f" (your code emitted {len(record['warnings'])} warning(s); they cost nothing here)"
    display({MIME: record, "text/plain": text}, raw=True)


def check_function(fn: Callable, cases: CaseSet, *, exercise: str, name: str | None = None,
                   reference: str | Callable | None = None, evaluate: str | Callable | None = None,
                   adapter: str = "numpy", rtol: float | None = None, atol: float | None = None,
                   check_dtype: bool = True, normwise: bool = False, output_names: Sequence[str] | None = None,
                   forbid: Sequence[str] = (), no_warnings: bool = False, hint: str = "") -> None:
    """Run ``fn`` on every case, compare with the reference, emit a record, raise ``AssertionError`` if wrong.

    Args:
        fn: the student's function (or class/callable for the torch adapters).
        cases: a :class:`CaseSet` from a generator or :func:`cases.literal`.
        exercise: the exercise id (the solution cell's ``grade_id``, e.g. ``"ex1-collapse"``).
        name: this check's name, unique within the exercise (e.g. ``"hidden: random stacks"``).
        reference: dotted name (or function in actlab) computing the expected value from the same arguments;
            not needed when every case carries ``expected``.
        evaluate: dotted name of ``evaluate(output, *args, **kwargs)`` applied to the student's output
            before comparing (e.g. run the network whose weights the student returned). Runs in the grader.
            If it has an attribute ``inputs(*args, **kwargs)`` giving the points it evaluated at (one entry
            or row per output entry), messages name the failing input.
        adapter: how to call ``fn``: ``"numpy"`` (as is), ``"torch"`` (array args become tensors),
            ``"torch_grad"`` (returns ``(y, dsum(y)/dx)`` by autograd; the reference returns both too).
        rtol, atol: tolerances (default :data:`DEFAULT_TOL` by the expected dtype); ``normwise`` compares
            ``max|err| <= atol + rtol max|expected|`` per output.
        check_dtype: the output must keep the expected numpy dtype.
        output_names: names of the items of a tuple output, for messages.
        forbid: what a "from scratch" solution must not use (see the module docstring).
        no_warnings: fail when the solution emits a warning (for checks *about* warnings only).
        hint: added to the message when the check fails.
    """
    if adapter not in ADAPTERS:
        raise ValueError(f"adapter must be one of {sorted(ADAPTERS)}, got {adapter!r}")
    if not isinstance(cases, CaseSet):
        raise TypeError("cases must be a CaseSet: use checks.cases.literal(...) or a @case_generator")
    spec = {"schema": SCHEMA, "exercise": exercise, "name": name or cases.spec.get("generator", "literal cases"),
            "cases": cases.spec, "digest": _digest(cases.cases),
            "reference": None if reference is None else dotted_name(reference),
            "evaluate": None if evaluate is None else dotted_name(evaluate), "adapter": adapter,
            "rtol": rtol, "atol": atol, "check_dtype": check_dtype, "normwise": normwise,
            "output_names": list(output_names) if output_names else None, "forbid": list(forbid),
            "no_warnings": no_warnings, "hint": hint}
    if reference is None and not all(c.has_expected for c in cases.cases):
        raise ValueError("give a reference, or an expected value in every case")
    if _COLLECTORS:
        _COLLECTORS[-1].append(spec)
        return None

    forbidden = scan_forbidden(fn, forbid) if forbid else []
    table = _forbidden_table(tuple(forbid)) if forbid else None
    outputs, errors, warns, ops = [], {}, [], set()
    call = ADAPTERS[adapter]
    for c in cases.cases:
        rec = _record_ops() if table is not None and table.aten else contextlib.nullcontext()
        with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", invalid="warn",
                                                                          divide="warn"):
            warnings.simplefilter("always")
            try:
                with rec:
                    out = call(fn, c)
            except Exception as exc:  # noqa: BLE001 - any error in student code is a failed case
                out = None
                kind = type(exc).__name__
                errors[c.id] = (f"{kind}: {exc}" if str(exc) else kind) + _student_frame(exc)
        if table is not None and table.aten:
            ops |= rec.ops
        outputs.append(encode(out))
        for w in caught:
            item = {"case": c.id, "category": w.category.__name__, "message": str(w.message)}
            if item not in warns:
                warns.append(item)
    if table is not None:
        for op in sorted(ops):
            entry = table.aten.get(op) or (table.aten.get("*") and f"torch (aten.{op})")
            if entry and not any(f.startswith(entry) for f in forbidden):
                forbidden.append(f"{entry} (reached as aten.{op} while running)")
    record = {**spec, "case_ids": [c.id for c in cases.cases], "outputs": outputs, "errors": errors,
              "warnings": warns, "forbidden": forbidden}
    verdict = verify(record, cases=cases.cases)
    record.update(passed=verdict.passed, message=verdict.message, failed=verdict.failed)
    _emit(record)
    if not verdict.passed:
        raise AssertionError(verdict.message)
    return None


def verify(record: dict, cases: list | None = None) -> Verdict:
    """Recompute a record's verdict from the record alone (in any process): rebuild the cases from the spec,
    compute the expected values, decode the student's outputs, compare. ``cases`` skips the rebuild."""
    head = f"{record.get('exercise')} [{record.get('name')}]"
    hint = f"\n  Hint: {record['hint']}" if record.get("hint") else ""
    try:
        cs = rebuild_cases(record["cases"]) if cases is None else list(cases)
        if cases is None and _digest(cs) != record.get("digest"):
            return Verdict(False, f"{head}: the rebuilt cases differ from the ones the kernel ran "
                                  "(a different actlab/numpy version?)", ["<digest>"], len(cs))
        if [c.id for c in cs] != list(record["case_ids"]) or len(record["outputs"]) != len(cs):
            return Verdict(False, f"{head}: the record does not match its cases", ["<record>"], len(cs))
    except Exception as exc:  # noqa: BLE001
        return Verdict(False, f"{head}: cannot rebuild the cases: {exc}", ["<record>"], 0)
    if record.get("forbidden"):
        found = "; ".join(record["forbidden"])
        return Verdict(False, f"{head}: your solution must not use {found}. This exercise asks you to build it "
                              f"from scratch with elementary operations.{hint}", ["<forbidden>"], len(cs))
    ref = resolve(record["reference"]) if record.get("reference") else None
    ev = resolve(record["evaluate"]) if record.get("evaluate") else None
    failures: list[tuple[str, str, str]] = []
    warned = {w["case"]: w for w in record.get("warnings", [])}
    for c, enc in zip(cs, record["outputs"]):
        if c.id in record.get("errors", {}):
            err = record["errors"][c.id]
            if err.startswith("NotImplementedError"):
                err = "NotImplementedError: replace `raise NotImplementedError()` with your solution"
            failures.append((c.id, f"your function raised {err}", c.hint))
            continue
        got = decode(enc)
        try:
            if ev is not None:
                got = ev(got.array if isinstance(got, TensorValue) else got, *c.args, **c.kwargs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = c.expected if c.has_expected else ref(*c.args, **c.kwargs)
            if record["adapter"] == "torch_grad" and isinstance(expected, (tuple, list)):
                expected = tuple(np.asarray(e) for e in expected)
            if ev is not None and hasattr(ev, "inputs"):  # the evaluator says where it evaluated
                x = ev.inputs(*c.args, **c.kwargs)
            else:
                x = c.args[0] if len(c.args) == 1 and isinstance(c.args[0], np.ndarray) else None
            msg = compare(got, expected, rtol=record.get("rtol"), atol=record.get("atol"),
                          check_dtype=record.get("check_dtype", True), normwise=record.get("normwise", False),
                          names=record.get("output_names"), x=x)
        except AssertionError as exc:
            msg = str(exc)
        except Exception as exc:  # noqa: BLE001 - a malformed output that the evaluator cannot use
            msg = f"could not use your output ({_describe(got)}): {type(exc).__name__}: {exc}"
        if msg is None and record.get("no_warnings") and c.id in warned:
            w = warned[c.id]
            msg = f"your function emitted {w['category']}: {w['message']} (this check requires no warnings)"
        if msg:
            failures.append((c.id, msg, c.hint))
    if not failures:
        return Verdict(True, f"{head}: {len(cs)} case(s) passed", [], len(cs))
    cid, msg, case_hint = failures[0]
    more = ""
    if len(failures) > 1:
        others = ", ".join(repr(f[0]) for f in failures[1:4]) + (", ..." if len(failures) > 4 else "")
        more = f"\n  Also failed: {others}"
    hints = "".join(f"\n  Hint: {h}" for h in (case_hint, record.get("hint")) if h)
    return Verdict(False, f"{head}: {len(failures)} of {len(cs)} case(s) failed.\n  case '{cid}': {msg}"
                          f"{more}{hints}", [f[0] for f in failures], len(cs))
