"""The public-API fuzz harness: enumerate ``__all__``, harvest valid calls, replace one argument.

Valid calls come from three places, in this order of preference:

1. ``HAND`` entries (in ``registry.py``) for calls that need a hand-made setup;
2. calls harvested from the package's own doctests: every doctest example of
   crmcore is executed once per session under ``sys.setprofile``, and the
   arguments of each call made *directly from a doctest line* to a public
   callable are recorded (examples that expect an exception are ignored);
   public instances left in the doctest namespaces are kept in a pool;
3. calls built from the signature: a required parameter takes a value from
   ``VALUES`` (keyed by parameter name) or an instance of its annotated
   public class from the pool; attrs classes without a harvested call are
   rebuilt from a pooled instance (``Cls(**fields)``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import doctest
import importlib
import inspect
import io
import math
import pkgutil
import sys
import typing
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

import crmcore

#: packages whose doctests are not harvested (slow, optional extras, or names all skipped)
_NO_HARVEST = (
    "crmcore.testing",
    "crmcore.satisfaction.plot",
    "crmcore.cli",
    "crmcore.ingest.cdnow",  # imports the whole CDNOW sample: hand entry
    "crmcore.repositories.demo",  # idem
)


def _modules(include_private: bool) -> list[Any]:
    out = [crmcore]
    for info in pkgutil.walk_packages(crmcore.__path__, "crmcore."):
        parts = info.name.split(".")
        if not include_private and any(p.startswith("_") for p in parts):
            continue
        if info.name == "crmcore.__main__":
            continue
        out.append(importlib.import_module(info.name))
    return out


def public_modules() -> list[Any]:
    """crmcore and every non-underscore subpackage/module that declares ``__all__``."""
    return [m for m in _modules(include_private=False) if hasattr(m, "__all__")]


def canonical(module: str, name: str, obj: Any) -> str:
    """The qualified name of a public object: where it is defined, else where it is listed."""
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if (
        isinstance(mod, str)
        and mod.startswith("crmcore")
        and isinstance(qual, str)
        and (inspect.isclass(obj) or inspect.isfunction(obj))
    ):
        return f"{mod}.{qual}"
    return f"{module}.{name}"


def public_objects() -> dict[str, Any]:
    """Every ``__all__`` entry of every public module, by canonical name (one per object)."""
    out: dict[str, Any] = {}
    for mod in public_modules():
        for name in mod.__all__:
            obj = getattr(mod, name)
            out.setdefault(canonical(mod.__name__, name, obj), obj)
    return out


def listed_names() -> list[tuple[str, str]]:
    """(``module.name`` as listed, canonical name) for every ``__all__`` entry."""
    return [
        (f"{mod.__name__}.{name}", canonical(mod.__name__, name, getattr(mod, name)))
        for mod in public_modules()
        for name in mod.__all__
    ]


# --------------------------------------------------------------------------- calls


@attrs.define
class Call:
    """A valid call: ``fn(*args, **kwargs)``; ``source`` says where it came from."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    source: str = "hand"
    #: the argument labels to replace (default: every argument)
    only: tuple[str, ...] | None = None
    #: enter (and roll back) the units of work among the arguments around each call
    enter_uow: bool = False
    #: a context manager entered around the call (hand entries with state)
    context: Any = None
    #: rebuild the call (fresh state) before each case
    fresh: Callable[[], Call] | None = None

    def labels(self) -> list[str]:
        labels = [f"#{i}" for i in range(len(self.args))] + list(self.kwargs)
        if self.only is not None:
            labels = [x for x in labels if x in self.only]
        return labels

    def replaced(self, label: str, value: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        args = [_fresh(a) for a in self.args]
        kwargs = {k: _fresh(v) for k, v in self.kwargs.items()}
        if label.startswith("#"):
            args[int(label[1:])] = value
        else:
            kwargs[label] = value
        return tuple(args), kwargs

    def current(self, label: str) -> Any:
        return self.args[int(label[1:])] if label.startswith("#") else self.kwargs[label]

    def param_name(self, label: str) -> str:
        """The parameter's name, for positional arguments too (what a message should name)."""
        if not label.startswith("#"):
            return label
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):
            return label
        params = [
            p
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        i = int(label[1:])
        if i < len(params):
            return params[i].name
        if params and params[-1].kind == params[-1].VAR_POSITIONAL:
            return params[-1].name
        return label


def _fresh(v: Any) -> Any:
    """A copy of mutable array inputs, so that a call cannot change the registry's values."""
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):
        return dict(v)
    return v


def call_from_locals(fn: Callable[..., Any], local: dict[str, Any], source: str) -> Call | None:
    """Rebuild ``fn(...)`` from the frame locals of a call to it."""
    target = fn.__init__ if inspect.isclass(fn) else fn  # type: ignore[misc]
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if inspect.isclass(fn):
        params = params[1:]
    has_var_pos = any(p.kind == p.VAR_POSITIONAL for p in params)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in params:
        if p.name not in local:
            return None
        v = local[p.name]
        if p.kind == p.POSITIONAL_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and has_var_pos):
            args.append(v)
        elif p.kind == p.VAR_POSITIONAL:
            args.extend(v)
        elif p.kind == p.VAR_KEYWORD:
            kwargs.update(v)
        else:
            if p.default is not p.empty and v is p.default:
                continue  # leave defaults to the function (they are fuzzed through VALUES below)
            kwargs[p.name] = v
    return Call(fn, tuple(args), kwargs, source)


# --------------------------------------------------------------------------- harvest


@attrs.define
class Harvest:
    calls: dict[str, list[Call]] = attrs.field(factory=dict)
    pool: dict[type, list[Any]] = attrs.field(factory=dict)
    errors: list[str] = attrs.field(factory=list)


def _from_doctest(depth: int) -> str | None:
    frame = sys._getframe(depth)
    name = frame.f_code.co_filename
    return name if name.startswith("<doctest") else None


def _in_uow(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return any(_is_unit_of_work(a) and a.active for a in (*args, *kwargs.values()))


def _recording(key: str, obj: Any, sink: list[tuple[str, Any, Any, str]]) -> Callable[..., Any]:
    """A stand-in for ``obj`` that records the calls made straight from a doctest line."""
    if inspect.isclass(obj):
        init = obj.__dict__["__init__"]

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
            src = _from_doctest(2) if type(self) is obj else None
            if src is not None:
                sink.append((key, obj, (args, kwargs, _in_uow(args, kwargs)), src))
            init(self, *args, **kwargs)

        return __init__

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        src = _from_doctest(2)
        if src is not None:
            sink.append((key, obj, (args, kwargs, _in_uow(args, kwargs)), src))
        return obj(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _patched(
    objects: dict[str, Any], modules: list[Any], sink: list[tuple[str, Any, Any, str]]
) -> Any:
    """Every public function replaced by a recorder in every crmcore module; every class's __init__."""
    undo: list[Callable[[], None]] = []
    by_id: dict[int, Callable[..., Any]] = {}
    try:
        for key, obj in objects.items():
            if inspect.isclass(obj):
                if isinstance(obj.__dict__.get("__init__"), type(lambda: 0)):
                    init = obj.__dict__["__init__"]
                    type.__setattr__(obj, "__init__", _recording(key, obj, sink))
                    undo.append(lambda o=obj, i=init: type.__setattr__(o, "__init__", i))
            elif inspect.isfunction(obj):
                by_id[id(obj)] = _recording(key, obj, sink)
        for mod in modules:
            ns = mod.__dict__
            for name, value in list(ns.items()):
                rec = by_id.get(id(value))
                if rec is not None:
                    ns[name] = rec
                    undo.append(lambda ns=ns, n=name, v=value: ns.__setitem__(n, v))
        yield by_id
    finally:
        for u in reversed(undo):
            u()


def _bind(obj: Any, args: Any) -> dict[str, Any] | None:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
        if inspect.isclass(obj):
            bound = sig.bind(None, *args[0], **args[1])
        else:
            bound = sig.bind(*args[0], **args[1])
    except (TypeError, ValueError):
        return None
    local = dict(bound.arguments)
    for p in sig.parameters.values():
        if p.name not in local:
            if p.kind == p.VAR_POSITIONAL:
                local[p.name] = ()
            elif p.kind == p.VAR_KEYWORD:
                local[p.name] = {}
            else:
                local[p.name] = p.default
    return local


def _collect(value: Any, classes: set[type], pool: dict[type, list[Any]], depth: int = 0) -> None:
    if depth > 2:
        return
    t = type(value)
    if t in classes:
        lst = pool.setdefault(t, [])
        if len(lst) < 3 and not any(x is value for x in lst):
            lst.append(value)
    if isinstance(value, (tuple, list)) and not isinstance(value, str):
        for item in list(value)[:3]:
            _collect(item, classes, pool, depth + 1)
    elif isinstance(value, dict):
        for item in list(value.values())[:3]:
            _collect(item, classes, pool, depth + 1)
    elif attrs.has(t):
        for f in attrs.fields(t):
            with contextlib.suppress(Exception):
                _collect(getattr(value, f.name), classes, pool, depth + 1)


def harvest(objects: dict[str, Any], per_name: int = 2) -> Harvest:
    """Run every doctest of crmcore once, recording direct calls to public callables."""
    classes = {o for o in objects.values() if inspect.isclass(o)}
    result = Harvest()
    finder = doctest.DocTestFinder(exclude_empty=True)
    pending: list[tuple[str, Any, Any, str]] = []
    modules = _modules(include_private=True)
    tests = []
    for mod in modules:
        if mod.__name__.startswith(_NO_HARVEST):
            continue
        try:
            tests.extend(finder.find(mod, mod.__name__))
        except Exception as e:
            result.errors.append(f"{mod.__name__}: {e!r}")
    with _patched(objects, modules, pending) as recorders:
        for test in tests:
            globs = dict(test.globs)
            for name, value in list(globs.items()):  # copied before patching
                rec = recorders.get(id(value))
                if rec is not None:
                    globs[name] = rec
            for i, ex in enumerate(test.examples):
                pending.clear()
                ok = True
                try:
                    code = compile(ex.source, f"<doctest {test.name}[{i}]>", "single")
                    with (
                        contextlib.redirect_stdout(io.StringIO()),
                        contextlib.redirect_stderr(io.StringIO()),
                    ):
                        exec(code, globs)
                except BaseException as e:
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    ok = False
                if ok and ex.exc_msg is None:
                    for key, obj, args, src in pending:
                        lst = result.calls.setdefault(key, [])
                        if len(lst) >= per_name:
                            continue
                        local = _bind(obj, args)
                        call = None if local is None else call_from_locals(obj, local, src)
                        if call is not None:
                            call.enter_uow = args[2]
                            lst.append(call)
                for v in list(globs.values()):
                    _collect(v, classes, result.pool)
    return result


# --------------------------------------------------------------------------- signature fill


def _hints(fn: Any) -> dict[str, Any]:
    target = fn.__init__ if inspect.isclass(fn) else fn
    try:
        return typing.get_type_hints(target)
    except Exception:
        return {}


def _candidates(annotation: Any) -> list[type]:
    origin = typing.get_origin(annotation)
    if origin is None:
        return [annotation] if inspect.isclass(annotation) else []
    out: list[type] = []
    for a in typing.get_args(annotation):
        out.extend(_candidates(a))
    return out


def _subclass(t: type, cls: type) -> bool:
    try:
        return issubclass(t, cls)
    except TypeError:  # protocols with data members
        return False


def from_signature(
    fn: Any, values: dict[str, Callable[[], Any]], pool: dict[type, list[Any]]
) -> Call | str:
    """A call built from the signature, or a string saying which parameter has no value."""
    if inspect.isclass(fn) and attrs.has(fn) and fn in pool:
        inst = pool[fn][0]
        kwargs = {(f.alias or f.name): getattr(inst, f.name) for f in attrs.fields(fn) if f.init}
        return Call(fn, (), kwargs, "pooled instance")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        return f"no signature: {e}"
    hints = _hints(fn)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value: Any = inspect.Parameter.empty
        if p.name in values and p.default is p.empty:
            value = values[p.name]()
        else:
            for cls in _candidates(hints.get(p.name)):
                if cls in pool:
                    value = pool[cls][0]
                    break
                for t, inst in pool.items():
                    if cls is not object and _subclass(t, cls):
                        value = inst[0]
                        break
                if value is not inspect.Parameter.empty:
                    break
        if value is inspect.Parameter.empty:
            if p.default is not p.empty:
                continue
            return f"no value for parameter {p.name!r} ({hints.get(p.name, p.annotation)})"
        if p.kind == p.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[p.name] = value
    return Call(fn, tuple(args), kwargs, "signature")


# --------------------------------------------------------------------------- hostile values

NAIVE = dt.datetime(2024, 5, 1, 12, 0)


class _Opaque:
    """An object of no expected type."""

    def __repr__(self) -> str:
        return "<opaque object>"


def hostile_for(value: Any) -> list[Any]:
    """Hostile replacements for one argument whose valid value is ``value``."""
    out: list[Any] = [None, _Opaque(), "\ud800", "\x00", "not-a-choice", 10**400]
    if isinstance(value, bool):
        return [*out, 2, "yes", math.nan]
    if isinstance(value, (int, float, np.integer, np.floating)):
        return [
            *out,
            math.nan,
            math.inf,
            -math.inf,
            1e308,
            -1e308,
            -1,
            0,
            0.5,
            -(10**400),
            2**63,
            "1",
        ]
    if isinstance(value, str):
        return [*out, "", "x" * 10_000, "a\x00b", 1, NAIVE]
    if isinstance(value, dt.datetime):
        return [
            *out,
            NAIVE,
            np.datetime64("NaT"),
            "NaT",
            "",
            dt.datetime.max.replace(tzinfo=dt.UTC),
            dt.datetime.min.replace(tzinfo=dt.UTC),
            0,
            math.nan,
        ]
    if isinstance(value, dt.date):
        return [*out, np.datetime64("NaT"), "", math.nan, NAIVE]
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return [*out, math.nan, math.inf, -1, 0, 1e308, np.array([1.0, 2.0])]
    if isinstance(value, (np.ndarray, list, tuple)) and not isinstance(value, str):
        arr = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) else value
        out += [np.array([]), [], value[:-1] if len(value) else [1.0], "abc"]
        if arr.ndim == 1 and len(arr):
            out.append(np.stack([arr, arr]))
            out.append(np.full(len(arr), "x", dtype=object))
            out.append(np.array([None] * len(arr), dtype=object))
            out.append(list(value) + list(value)[:1])
            if arr.dtype.kind in "fiu" or _all_numbers(arr):
                num = arr.astype(np.float64)
                for bad in (math.nan, math.inf, -math.inf, 1e308, -1.0, 2.0**63, 0.5):
                    b = num.copy()
                    b[0] = bad
                    out.append(b)
                out.append(np.zeros(len(arr)))
                out.append(num.astype(str))
            if arr.dtype.kind == "M":
                b = arr.copy()
                b[0] = np.datetime64("NaT")
                out.append(b)
            if arr.dtype.kind in "UO" and _all_strings(arr):
                for bad in ("\ud800", "\x00", "", None, math.nan):
                    b = np.array(arr, dtype=object)
                    b[0] = bad
                    out.append(b)
        return out
    if isinstance(value, dict):
        return [*out, {}, {"\ud800": 1}, {None: 1}, list(value)]
    return [*out, 1.5, "abc", math.nan]


def _all_numbers(arr: np.ndarray) -> bool:
    return all(
        isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
        for x in arr.ravel()[:50]
    )


def _all_strings(arr: np.ndarray) -> bool:
    return all(isinstance(x, str) for x in arr.ravel()[:50])


def show(value: Any, limit: int = 120) -> str:
    """A one-line repr, cut at ``limit`` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"{'-' if value < 0 else ''}10**{len(str(abs(value))) - 1}"
    try:
        with np.printoptions(threshold=8, edgeitems=3):
            text = repr(value)
    except Exception as e:
        text = f"<unrepresentable {type(value).__name__}: {e!r}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- one case


class CallTimeout(BaseException):
    """Raised by SIGALRM inside a call that ran too long."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Any:
    """Interrupt the body with :class:`CallTimeout` after ``seconds`` (main thread, POSIX)."""
    import signal

    def on_alarm(signum: int, frame: Any) -> None:
        raise CallTimeout

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _documented_nan(validator: Any, kind: str = "nan") -> bool:
    """Whether an attrs field's validator documents NaN (``kind="inf"``: infinity) as an
    allowed value, with its reason (``_results``: ``nan="..."`` / ``inf="..."``)."""
    if validator is None:
        return False
    if getattr(validator, kind, None):
        return True
    inner = getattr(validator, "_validators", None) or ()
    return any(_documented_nan(v, kind) for v in inner)


#: how much more address space one call may take (a hostile size must not exhaust the machine)
EXTRA_MEMORY = 4 << 30


@contextlib.contextmanager
def memory_limit(extra: int = EXTRA_MEMORY) -> Any:
    """Cap the process's address space at its current size + ``extra`` (Linux; else no cap)."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
        old = resource.getrlimit(resource.RLIMIT_AS)
        limit = size + extra
        if old[1] != resource.RLIM_INFINITY:
            limit = min(limit, old[1])
        resource.setrlimit(resource.RLIMIT_AS, (limit, old[1]))
    except (ImportError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def nonfinite(
    value: Any,
    path: str = "result",
    depth: int = 0,
    seen: set[int] | None = None,
    allow: tuple[str, ...] = (),
    nan_ok: bool = False,
) -> str | None:
    """The path of the first NaN/inf held by ``value`` (floats, arrays, attrs, containers), or None.

    NaN is accepted at the ``allow`` paths and in attrs fields whose validator
    documents it (``crmcore._results``: ``nan="<reason>"``); infinity never.
    """
    import decimal

    if seen is None:
        seen = set()
    if depth > 5 or id(value) in seen or path in allow:
        return None
    if isinstance(value, (bool, int, str, bytes)) or value is None:
        return None
    if isinstance(value, (float, np.floating, complex, np.complexfloating)):
        if np.isfinite(value) or (nan_ok and np.isnan(value)):
            return None
        return f"{path} = {value!r}"
    if isinstance(value, decimal.Decimal):
        return None if value.is_finite() else f"{path} = {value!r}"
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            bad = ~(np.isfinite(value) | np.isnan(value)) if nan_ok else ~np.isfinite(value)
            if bad.any():
                i = np.argwhere(bad)[0]
                return f"{path}[{', '.join(map(str, i))}] = {value[tuple(i)]!r}"
        elif value.dtype.kind == "O":
            for i, item in enumerate(value.ravel()[:1000]):
                hit = nonfinite(item, f"{path}.flat[{i}]", depth + 1, seen, allow, nan_ok)
                if hit:
                    return hit
        return None
    if isinstance(value, (tuple, list)):
        for i, item in enumerate(value[:1000]):
            hit = nonfinite(item, f"{path}[{i}]", depth + 1, seen, allow, nan_ok)
            if hit:
                return hit
        return None
    if isinstance(value, dict):
        for k, item in list(value.items())[:1000]:
            hit = nonfinite(item, f"{path}[{k!r}]", depth + 1, seen, allow, nan_ok)
            if hit:
                return hit
        return None
    if attrs.has(type(value)):
        for f in attrs.fields(type(value)):
            try:
                item = getattr(value, f.name)
            except Exception:
                continue
            documented = _documented_nan(f.validator)
            floats = isinstance(item, (float, np.floating, np.ndarray))
            if (
                floats
                and np.asarray(item).dtype.kind == "f"
                and _documented_nan(f.validator, "inf")
            ):
                item = np.where(np.isinf(item), 0.0, item)  # a documented infinity is a value
            hit = nonfinite(item, f"{path}.{f.name}", depth + 1, seen, allow, documented)
            if hit:
                return hit
    return None


def _names_value(message: str, value: Any) -> bool:
    return isinstance(value, str) and bool(value) and (repr(value) in message or value in message)


def _default(fn: Any, param: str) -> Any:
    try:
        p = inspect.signature(fn).parameters.get(param)
    except (TypeError, ValueError):
        return None
    return None if p is None or p.default is p.empty else p.default


def _is_unit_of_work(value: Any) -> bool:
    return all(hasattr(value, n) for n in ("__enter__", "commit", "rollback", "customers"))


def _propagates(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    return kwargs.get("nan_policy") == "propagate" or any(
        isinstance(a, str) and a == "propagate" for a in args
    )


def run_case(
    key: str,
    call: Call,
    label: str | None,
    value: Any,
    seconds: float = 5.0,
    allow_nan: tuple[str, ...] = (),
) -> str | None:
    """Run ``call`` with argument ``label`` replaced by ``value``; None if the outcome is allowed.

    Allowed: a result holding no NaN/inf (unless ``nan_policy="propagate"`` was
    passed; ``allow_nan`` lists result paths, e.g. ``"result.rate"``, where NaN
    is a documented "undefined"), or a :class:`crmcore.errors.CRMError` /
    ``TypeError`` whose message names the argument. Anything else, or a call running over ``seconds``, is
    described in the returned string.
    """
    from crmcore.errors import (
        ConcurrencyError,
        CRMError,
        DuplicateError,
        FitError,
        MissingDependencyError,
        NotFoundError,
    )

    if call.fresh is not None:
        call = call.fresh()
    if label is None:
        args, kwargs = (
            tuple(_fresh(a) for a in call.args),
            {k: _fresh(v) for k, v in call.kwargs.items()},
        )
        where = "the valid call"
        names: tuple[str, ...] = ()
    else:
        args, kwargs = call.replaced(label, value)
        param = call.param_name(label)
        where = f"argument {param!r}" + (f" ({label})" if label.startswith("#") else "")
        names = (param, param.lstrip("_"))
        if param != "name":  # the shared checks (arrays, options, labels) name the caller's field
            given_name = kwargs.get("name", _default(call.fn, "name"))
            if isinstance(given_name, str):
                names = (*names, given_name)
    head = f"{key}: {where} = {show(value) if label is not None else ''}".rstrip(" =")
    try:
        with contextlib.ExitStack() as stack:
            if call.context is not None:
                stack.enter_context(call.context)
            for a in (*args, *kwargs.values()):
                if call.enter_uow and _is_unit_of_work(a) and not a.active:
                    stack.enter_context(a)
            with memory_limit(), time_limit(seconds):
                result = call.fn(*args, **kwargs)
    except CallTimeout:
        return f"{head} -> ran over {seconds:g} s"
    except (CRMError, TypeError) as e:
        if label is None:
            return f"{head} -> {type(e).__name__}: {show(str(e), 300)}"
        message = str(e)
        if any(n and n in message for n in names):
            return None
        if message.startswith("$") or (message.startswith("cannot read ") and "$" in message):
            return None  # a structuring error: the path from '$', the argument's root
        if isinstance(e, FitError) and value is None:
            return None  # an optional input left out (weights=None): the data itself has no fit
        state = (NotFoundError, DuplicateError, ConcurrencyError, MissingDependencyError)
        if isinstance(e, state) and _names_value(message, value):
            return None  # about stored state or a missing module: the message names the key
        return f"{head} -> {type(e).__name__} not naming {names[0]!r}: {show(message, 300)}"
    except RecursionError as e:
        return f"{head} -> RecursionError: {show(str(e), 200)}"
    except Exception as e:
        return f"{head} -> escaped {type(e).__module__}.{type(e).__name__}: {show(str(e), 300)}"
    if not _propagates(args, kwargs):
        try:
            hit = nonfinite(result, allow=allow_nan)
        except Exception as e:
            hit = f"<walking the result raised {e!r}>"
        if hit:
            return f"{head} -> returned a non-finite value: {show(hit, 300)}"
    return None


# --------------------------------------------------------------------------- the registry

#: the shared checks: only the checked value is fuzzed (``name=``, bounds, classes and the
#: allowed choices are the calling code's configuration, not user input)
CHECK_HELPERS = (
    "crmcore.arrays.",
    "crmcore.options.",
    "crmcore.labels.",
    "crmcore.timestamps.",
)


@attrs.define
class Registry:
    """Every public name: a valid call, a skip reason, or what is missing."""

    objects: dict[str, Any]
    calls: dict[str, Call]
    skipped: dict[str, str]
    missing: dict[str, str]

    @classmethod
    def build(
        cls,
        hand: dict[str, Callable[[], Call]],
        values: dict[str, Callable[[], Any]],
        skip_reason: Callable[[str, Any], str | None],
    ) -> Registry:
        objects = public_objects()
        fuzzable = {k: o for k, o in objects.items() if skip_reason(k, o) is None}
        found = harvest(fuzzable)
        calls: dict[str, Call] = {}
        skipped: dict[str, str] = {}
        missing: dict[str, str] = {}
        for key, obj in objects.items():
            reason = skip_reason(key, obj)
            if reason is not None:
                skipped[key] = reason
                continue
            if key in hand:
                try:
                    calls[key] = hand[key]()
                    calls[key].fresh = hand[key]
                except Exception as e:
                    missing[key] = f"hand entry raised {e!r}"
                continue
            if found.calls.get(key):
                calls[key] = found.calls[key][0]
                continue
            built = from_signature(obj, values, found.pool)
            if isinstance(built, Call):
                calls[key] = built
            else:
                missing[key] = built
        for key, call in calls.items():
            if key.startswith(CHECK_HELPERS) and call.only is None:
                labels = call.labels()
                call.only = tuple(labels[:1])
        return cls(objects, calls, skipped, missing)

    def cases(self, key: str) -> list[tuple[str, Any]]:
        call = self.calls[key]
        return [(label, v) for label in call.labels() for v in hostile_for(call.current(label))]
