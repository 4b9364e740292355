"""Progress of long work: one callback type, ``progress=`` on every long operation.

A long operation (an import, a fit, a batch run of anomaly rules, the HTML report) takes
``progress=``: a callable that receives a :class:`ProgressEvent` (``stage``, ``done``,
``total``) now and then, on the caller's thread. Within one stage ``done`` never goes
down and never exceeds ``total``; the first event of a stage has ``done == 0`` and the
last has ``done == total`` when the stage finished. ``total`` is None where the amount
of work is not known in advance (the iterations of a fit). The default, None, reports
nothing and costs nothing.

The callback may show a bar, log, or stop the work by raising: the exception leaves
the operation as any error would (an import keeps the batches it committed).

>>> events = []
>>> with stage(events.append, "import transactions", total=3) as tick:
...     tick.advance(2)
...     tick.advance(1)
>>> [(e.stage, e.done, e.total) for e in events]
[('import transactions', 0, 3), ('import transactions', 2, 3), ('import transactions', 3, 3)]
>>> events[1].fraction
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import attrs

from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.options import as_count, expect_callable

__all__ = ["Progress", "ProgressEvent", "Stage", "check_progress", "stage"]


def _done_within_total(instance: ProgressEvent, attribute: Any, value: int | None) -> None:
    if value is not None and instance.done > value:
        raise ValidationError(
            f"ProgressEvent: 'done' must be at most 'total' ({value}): {instance.done}"
        )


def _count(name: str) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        as_count(value, name=name)

    return check


def _optional_count(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        as_count(value, name="total")


@attrs.frozen
class ProgressEvent:
    """How far one stage of a long operation is: ``done`` of ``total`` units (rows,
    rules, sections, likelihood evaluations; ``total`` None: not known in advance).

    >>> ProgressEvent("fit bgnbd", 40, None).fraction is None
    True
    >>> ProgressEvent("rules", 3, 2)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: ProgressEvent: 'done' must be at most 'total' (2): 3
    """

    stage: str = attrs.field(validator=attrs.validators.instance_of(str))
    done: int = attrs.field(validator=_count("done"))
    total: int | None = attrs.field(validator=[_optional_count, _done_within_total])

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1] (1 for an empty stage); None when the total is unknown."""
        if self.total is None:
            return None
        return 1.0 if self.total == 0 else self.done / self.total


Progress = Callable[[ProgressEvent], None]
"""The ``progress=`` callback of long operations: called with each :class:`ProgressEvent`."""


def check_progress(progress: object, *, name: str = "progress") -> Progress | None:
    """``progress`` checked: None or a callable (anything else is an ArgumentTypeError).

    >>> check_progress(None) is None
    True
    >>> check_progress(3)
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'progress' must be a function: 3
    """
    if progress is None:
        return None
    expect_callable(progress, name=name)
    out: Progress = progress  # type: ignore[assignment]
    return out


F = TypeVar("F", bound=Callable[..., Any])


class Stage:
    """One stage of a long operation, reporting to a :data:`Progress` callback (or to nobody).

    Made by :func:`stage`; ``advance(n)`` adds ``n`` units, ``update(done)`` sets the count,
    ``finish()`` reports the end (``done == total``; an unknown total becomes ``done``).
    Used as a context manager it finishes on a normal exit and reports nothing more
    after an error. Counts beyond ``total`` are clipped to it, so a callback can rely on
    ``done <= total``.

    >>> seen = []
    >>> s = stage(seen.append, "fit", total=None)
    >>> loglik = s.counting(lambda theta: -theta)
    >>> loglik(1.0), loglik(2.0)
    (-1.0, -2.0)
    >>> s.finish()
    >>> [(e.done, e.total) for e in seen]
    [(0, None), (1, None), (2, None), (2, 2)]
    >>> Stage(None, "rules", 2).done  # nobody listens
    0
    """

    __slots__ = ("_done", "_finished", "_progress", "name", "total")

    def __init__(self, progress: Progress | None, name: str, total: int | None = None) -> None:
        self._progress = check_progress(progress)
        if not isinstance(name, str):
            raise ArgumentTypeError(f"'name' must be a string naming the stage: {name!r}"[:200])
        self.name = name
        self.total = None if total is None else as_count(total, name="total")
        self._done = 0
        self._finished = False
        self._emit()

    @property
    def done(self) -> int:
        """Units done so far."""
        return self._done

    def _emit(self) -> None:
        if self._progress is not None:
            self._progress(ProgressEvent(self.name, self._done, self.total))

    def update(self, done: int) -> None:
        """Set the units done (never below the last count, never above ``total``)."""
        done = max(self._done, int(done))
        if self.total is not None:
            done = min(done, self.total)
        if done != self._done:
            self._done = done
            self._emit()

    def advance(self, n: int = 1) -> None:
        """Add ``n`` units done."""
        self.update(self._done + int(n))

    def finish(self) -> None:
        """Report the end of the stage (once)."""
        if self._finished:
            return
        self._finished = True
        if self.total is None:
            self.total = self._done
            self._emit()
        elif self._done != self.total:
            self._done = self.total
            self._emit()

    def counting(self, fn: F) -> F:
        """``fn`` wrapped to advance this stage by one on each call (a likelihood
        evaluation, a batch); ``fn`` itself when nobody listens."""
        if self._progress is None:
            return fn

        def counted(*args: Any, **kwargs: Any) -> Any:
            out = fn(*args, **kwargs)
            self.advance()
            return out

        return counted  # type: ignore[return-value]

    def __enter__(self) -> Stage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish()


def stage(progress: Progress | None, name: str, *, total: int | None = None) -> Stage:
    """Start reporting stage ``name`` of ``total`` units to ``progress`` (checked; None:
    a stage that reports nothing). The first event (``done = 0``) is sent now.

    >>> stage(None, "rules", total=4).total
    4
    >>> stage([].append, "rules", total=-1)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'total' must be >= 0: -1
    """
    return Stage(progress, name, total)
