"""The exception hierarchy of crmcore: one root, :class:`CRMError`.

Every subclass also inherits the builtin exception a caller would expect, so
``except ValueError`` keeps working around crmcore calls.

>>> from crmcore.errors import CRMError, ValidationError
>>> issubclass(ValidationError, ValueError) and issubclass(ValidationError, CRMError)
True
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ArgumentTypeError",
    "CRMError",
    "ConcurrencyError",
    "ConfigurationError",
    "DuplicateError",
    "FitError",
    "ImportRejectedError",
    "MissingDependencyError",
    "NotFoundError",
    "RepositoryError",
    "TransitionError",
    "ValidationError",
    "require",
]


class CRMError(Exception):
    """Root of every error crmcore raises.

    >>> try:
    ...     raise NotFoundError("customer 'c-1' not found")
    ... except CRMError as e:
    ...     print(type(e).__name__, e)
    NotFoundError customer 'c-1' not found
    """


class ValidationError(CRMError, ValueError):
    """Input that breaks a rule: the message names the field, the value and what was expected.

    ``problems`` holds one line per bad path when several were found at once
    (for example ``$.contact_points[1].value: ...``).

    >>> e = ValidationError("2 problems", problems=("$.a: x", "$.b: y"))
    >>> e.problems
    ('$.a: x', '$.b: y')
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems)


class ArgumentTypeError(ValidationError, TypeError):
    """An argument of the wrong kind (``None`` or a dict where a ``Funnel`` goes): names the argument.

    Both a :class:`ValidationError` and a ``TypeError``, so either ``except`` catches it.

    >>> issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValidationError)
    True
    """


class NotFoundError(CRMError, KeyError):
    """A record asked for by id does not exist.

    >>> str(NotFoundError("customer 'c-9' not found"))
    "customer 'c-9' not found"
    """

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class DuplicateError(CRMError, ValueError):
    """A record with the same identity already exists.

    >>> issubclass(DuplicateError, ValueError)
    True
    """


class ConcurrencyError(CRMError, RuntimeError):
    """A write was based on a stale ``version`` of an aggregate; nothing was changed.

    >>> issubclass(ConcurrencyError, RuntimeError)
    True
    """


class RepositoryError(CRMError, RuntimeError):
    """A storage backend failed; the driver's error is chained as ``__cause__``.

    >>> issubclass(RepositoryError, RuntimeError)
    True
    """


class TransitionError(CRMError, ValueError):
    """An illegal move of a state machine (for example a funnel stage change).

    >>> issubclass(TransitionError, ValueError)
    True
    """


class FitError(CRMError, RuntimeError):
    """A model fit failed; the message says why. Never returned as NaN parameters.

    >>> issubclass(FitError, RuntimeError)
    True
    """


class ConfigurationError(CRMError, ValueError):
    """A definition (funnel, rule, tier set) is inconsistent.

    >>> issubclass(ConfigurationError, ValueError)
    True
    """


class ImportRejectedError(ValidationError):
    """An all-or-nothing import found bad rows; nothing was stored.

    >>> issubclass(ImportRejectedError, ValidationError)
    True
    """


class MissingDependencyError(CRMError, ImportError):
    """An optional extra is needed; the message names the extra to install.

    >>> issubclass(MissingDependencyError, ImportError)
    True
    """


def require(module: str, extra: str) -> object:
    """Import an optional dependency or raise :class:`MissingDependencyError` naming the extra.

    >>> require("json", "none").__name__
    'json'
    """
    import importlib

    if not (isinstance(module, str) and module and isinstance(extra, str)):
        raise TypeError(f"'module' and 'extra' must be strings: {module!r}, {extra!r}")
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"{module!r} is needed for this feature: pip install 'crmcore[{extra}]'"
        ) from e
