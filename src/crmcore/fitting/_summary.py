"""The one fitted-result shape: :class:`FitSummary` and its rows, :class:`Estimate`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import numpy as np
from scipy import stats

from crmcore._frames import Columns, Tabular, texts
from crmcore._results import COUNT, FINITE, NONNEGATIVE, choice, each, number
from crmcore.arrays import FloatArray
from crmcore.errors import ValidationError
from crmcore.model._fields import instance, tuple_of
from crmcore.options import as_confidence

__all__ = ["Estimate", "FitSummary"]


@attrs.frozen
class Estimate:
    """One parameter of a fit: the estimate, its standard error, a confidence interval at
    ``confidence`` and the Wald statistic ``z`` = estimate / SE with its two-sided p-value.

    For a parameter constrained to be positive (``scale='log'``) the interval is
    ``exp(log(estimate) +- z_q * SE / estimate)`` (the delta method on the log scale, so it
    stays positive); for a free parameter (a regression coefficient) it is
    ``estimate +- z_q * SE``. Without a standard error (a singular information matrix, a
    parameter at a bound) SE, interval, ``z`` and ``p_value`` are None.

    >>> e = Estimate("r", 0.243, 0.0125, 0.95, "log")
    >>> round(e.lower, 4), round(e.upper, 4), round(e.z, 1)
    (0.2197, 0.2688, 19.4)
    """

    name: str = attrs.field(validator=instance(str, "a string"))
    estimate: float = attrs.field(validator=FINITE)
    standard_error: float | None = attrs.field(validator=number(0, optional=True))
    confidence: float = attrs.field(validator=number(0, 1))
    scale: str = attrs.field(validator=choice("log", "linear"))

    @property
    def _half(self) -> float | None:
        if self.standard_error is None:
            return None
        return float(stats.norm.ppf(0.5 + self.confidence / 2)) * self.standard_error

    @property
    def lower(self) -> float | None:
        """Lower end of the interval (None without a standard error)."""
        half = self._half
        if half is None:
            return None
        if self.scale == "log":
            return self.estimate * math.exp(-half / self.estimate)
        return self.estimate - half

    @property
    def upper(self) -> float | None:
        """Upper end of the interval (None without a standard error)."""
        half = self._half
        if half is None:
            return None
        if self.scale == "log":
            return self.estimate * math.exp(min(half / self.estimate, 700.0))
        return self.estimate + half

    @property
    def z(self) -> float | None:
        """Wald statistic estimate / SE (None without a positive standard error)."""
        se = self.standard_error
        return None if not se else self.estimate / se

    @property
    def p_value(self) -> float | None:
        """Two-sided p-value of ``z`` against 0 (None without ``z``)."""
        z = self.z
        return None if z is None else float(2 * stats.norm.sf(abs(z)))


def _square(inst: FitSummary, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    k = len(inst.names)
    rows = value if isinstance(value, tuple) else ()
    if len(rows) != k or any(len(r) != k for r in rows):
        raise ValidationError(
            f"FitSummary: {attribute.name!r} must be {k} x {k} (one row and column per "
            f"parameter in 'names' {inst.names}): got {value!r}"[:300]
        )


def _consistent(inst: FitSummary) -> None:
    """The covariance is symmetric with a non-negative diagonal, and the standard errors
    (when both are given) are the square roots of that diagonal."""
    if inst.covariance is None:
        return
    cov = np.array(inst.covariance, dtype=np.float64)
    scale = max(float(np.max(np.abs(np.diag(cov)))), np.finfo(float).tiny)
    asym = float(np.max(np.abs(cov - cov.T)))
    if asym > 1e-8 * scale:
        raise ValidationError(
            f"FitSummary: 'covariance' must be symmetric: entries differ by up to {asym:.3g} "
            f"across the diagonal (parameters {inst.names})"
        )
    bad = np.flatnonzero(np.diag(cov) < 0)
    if len(bad):
        j = int(bad[0])
        raise ValidationError(
            f"FitSummary: the variance of {inst.names[j]!r} on the diagonal of 'covariance' "
            f"must be >= 0: {cov[j, j]}"
        )
    if inst.standard_errors is None:
        return
    se = np.array(inst.standard_errors, dtype=np.float64)
    want = np.sqrt(np.diag(cov))
    off = np.flatnonzero(np.abs(se - want) > 1e-3 * np.maximum(want, 1e-300))
    if len(off):
        j = int(off[0])
        raise ValidationError(
            f"FitSummary: 'standard_errors' must hold the square roots of the variances in "
            f"'covariance': the value of {inst.names[j]!r} should be {want[j]:.6g}: {se[j]}"
        )


def _aligned(inst: FitSummary, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, tuple) or len(value) != len(inst.names):
        raise ValidationError(
            f"FitSummary: {attribute.name!r} must hold one value per parameter in 'names' "
            f"{inst.names}: got {value!r}"[:300]
        )


def _scales(inst: FitSummary, attribute: attrs.Attribute[Any], value: Any) -> None:
    _aligned(inst, attribute, value)
    bad = [s for s in value if s not in ("log", "linear")] if isinstance(value, tuple) else []
    if bad:
        raise ValidationError(f"FitSummary: 'scales' must be 'log' or 'linear': {bad[0]!r}")


def _number(v: object) -> object:
    """A real number as a Python float; anything else as it is, for the validator to name."""
    if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
        return float(v)
    return v


def _floats(value: object) -> object:
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(_number(v) for v in value)
    return value


def _matrix(value: object) -> object:
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(_floats(row) for row in value)
    return value


def _names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(value)
    return value  # type: ignore[return-value]  # not a sequence: the validator names it


def _floats_or_strs(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


@attrs.frozen
class FitSummary(Tabular):
    """How a model was fitted: the one result shape of every maximum-likelihood fit in
    crmcore (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gompertz/NBD, BG/BB, Gamma-Gamma, sBG and
    the satisfaction-loyalty model), built by :func:`maximum_likelihood`.

    ``names`` and ``estimates`` list every parameter (regression coefficients after the
    model's own parameters); ``standard_errors`` and ``covariance`` come from the observed
    information (minus the Hessian of the unpenalised log-likelihood) at the estimate and are
    None when it is singular; ``n`` is the number of observations (customers, answers) that
    BIC counts; ``penalizer`` the L2 coefficient of the fit (0: plain maximum likelihood).
    The covariance must be k x k in the order of ``names``, symmetric, with a non-negative
    diagonal whose square roots are the ``standard_errors`` (to 1e-3 relative).

    >>> s = FitSummary("toy", ("lam",), (3.0,), (0.5477,), ((0.3,),), -7.04, 10, 5, True, "")
    >>> round(s.aic, 2), round(s.bic, 2)
    (16.08, 16.38)
    >>> s["lam"].estimate
    3.0
    """

    model: str = attrs.field(validator=instance(str, "a string"))
    names: tuple[str, ...] = attrs.field(converter=_names, validator=tuple_of(str, "a name"))
    estimates: tuple[float, ...] = attrs.field(converter=_floats, validator=each(FINITE))
    standard_errors: tuple[float, ...] | None = attrs.field(
        converter=_floats,
        validator=each(NONNEGATIVE, optional=True),
    )
    covariance: tuple[tuple[float, ...], ...] | None = attrs.field(
        converter=_matrix,
        validator=each(each(FINITE), optional=True),
    )
    log_likelihood: float = attrs.field(validator=FINITE)
    n: float = attrs.field(validator=NONNEGATIVE)
    iterations: int = attrs.field(validator=COUNT)
    converged: bool = attrs.field(validator=instance(bool, "a bool"))
    message: str = attrs.field(validator=instance(str, "a string"))
    penalizer: float = attrs.field(default=0.0, validator=NONNEGATIVE)
    scales: tuple[str, ...] | None = attrs.field(default=None, converter=_floats_or_strs)
    at_bound: tuple[str, ...] = attrs.field(
        default=(), converter=_names, validator=tuple_of(str, "a name")
    )

    def __attrs_post_init__(self) -> None:
        fields = attrs.fields(FitSummary)
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValidationError(
                f"FitSummary: 'names' must name at least one parameter, each once: {self.names}"
            )
        _aligned(self, fields.estimates, self.estimates)
        _aligned(self, fields.standard_errors, self.standard_errors)
        _square(self, fields.covariance, self.covariance)
        _consistent(self)
        _scales(self, fields.scales, self.scales)

    @property
    def k(self) -> int:
        """Number of estimated parameters."""
        return len(self.names)

    @property
    def aic(self) -> float:
        """Akaike's information criterion, 2k - 2 log L."""
        return 2.0 * self.k - 2.0 * self.log_likelihood

    @property
    def bic(self) -> float:
        """Schwarz's Bayesian information criterion, k log n - 2 log L."""
        return self.k * math.log(max(self.n, 1.0)) - 2.0 * self.log_likelihood

    def covariance_matrix(self) -> FloatArray:
        """The covariance of the estimates as a k x k array (ValidationError without one).

        >>> FitSummary("toy", ("a",), (1.0,), None, None, -1.0, 3, 1, True, "").covariance_matrix()
        Traceback (most recent call last):
        crmcore.errors.ValidationError: toy: no covariance matrix (the information matrix at the estimate is singular or the fit has a parameter at a bound)
        """
        if self.covariance is None:
            raise ValidationError(
                f"{self.model}: no covariance matrix (the information matrix at the estimate "
                "is singular or the fit has a parameter at a bound)"
            )
        return np.array(self.covariance, dtype=np.float64)

    def table(self, confidence: float = 0.95) -> tuple[Estimate, ...]:
        """One :class:`Estimate` per parameter, intervals at ``confidence``.

        >>> s = FitSummary("toy", ("lam",), (3.0,), (0.5,), ((0.25,),), -7.0, 10, 5, True, "")
        >>> [round(v, 3) for v in (s.table()[0].lower, s.table()[0].upper)]
        [2.164, 4.159]
        """
        conf = as_confidence(confidence)
        scales = self.scales or ("log",) * self.k
        ses = self.standard_errors or (None,) * self.k
        return tuple(
            Estimate(name, est, se, conf, scale)
            for name, est, se, scale in zip(self.names, self.estimates, ses, scales, strict=True)
        )

    def __getitem__(self, name: str) -> Estimate:
        """The :class:`Estimate` of one parameter by name (intervals at 95%)."""
        for e in self.table():
            if e.name == name:
                return e
        raise ValidationError(f"{self.model}: no parameter named {name!r}; it has {self.names}")

    def __iter__(self) -> Iterator[Estimate]:
        return iter(self.table())

    def __str__(self) -> str:
        width = max(16, *(len(name) + 2 for name in self.names))
        lines = [
            f"{self.model}: log-likelihood {self.log_likelihood:.4f}, n {self.n:g}, "
            f"AIC {self.aic:.2f}, BIC {self.bic:.2f}, iterations {self.iterations}, "
            f"{'converged' if self.converged else 'NOT converged'}"
            + (f", L2 penalizer {self.penalizer:g}" if self.penalizer else ""),
            f"{'parameter':<{width}}{'estimate':>14}{'SE':>12}{'z':>9}{'95% CI':>26}",
        ]
        for e in self.table():
            se = "" if e.standard_error is None else f"{e.standard_error:.4g}"
            z = "" if e.z is None else f"{e.z:.2f}"
            ci = "" if e.lower is None else f"[{e.lower:.4g}, {e.upper:.4g}]"
            lines.append(f"{e.name:<{width}}{e.estimate:>14.6g}{se:>12}{z:>9}{ci:>26}")
        return "\n".join(lines)

    def _columns(self) -> Columns:
        rows = self.table()

        def numbers(values: list[float | None]) -> FloatArray:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        return {
            "parameter": texts(self.names),
            "estimate": np.array(self.estimates, dtype=np.float64),
            "standard_error": numbers([e.standard_error for e in rows]),
            "lower": numbers([e.lower for e in rows]),
            "upper": numbers([e.upper for e in rows]),
            "z": numbers([e.z for e in rows]),
            "p_value": numbers([e.p_value for e in rows]),
            "scale": texts([e.scale for e in rows]),
            "at_bound": np.array([n in self.at_bound for n in self.names], dtype=bool),
        }
