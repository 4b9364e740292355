"""Maximum likelihood, written once: the engine and the fitted-result shape of every model.

Every fitted model in crmcore (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gompertz/NBD, BG/BB,
Gamma-Gamma, sBG and the satisfaction-loyalty model) is estimated by
:func:`maximum_likelihood` and carries its :class:`FitSummary` as ``model.fit``:
estimates with standard errors, confidence intervals and Wald statistics
(:class:`Estimate`), the covariance matrix, the log-likelihood, AIC and BIC, the number of
observations, iterations, convergence and the L2 ``penalizer`` used.

>>> from crmcore.datasets import load_cdnow_summary
>>> from crmcore.valuation import fit_bgnbd
>>> s = load_cdnow_summary()
>>> fit = fit_bgnbd(s["x"], s["t_x"], s["T"]).fit
>>> fit.names, round(fit.log_likelihood, 1), round(fit.aic, 1)
(('r', 'alpha', 'a', 'b'), -9582.4, 19172.9)
>>> r = fit["r"]
>>> round(r.estimate, 4), round(r.standard_error, 4), round(r.lower, 4), round(r.upper, 4)
(0.2426, 0.0126, 0.2192, 0.2685)
"""

from __future__ import annotations

from crmcore.fitting._engine import LogLik, Newton, maximum_likelihood
from crmcore.fitting._fitted import FittedModel, initial_values
from crmcore.fitting._summary import Estimate, FitSummary

__all__ = [
    "Estimate",
    "FitSummary",
    "FittedModel",
    "LogLik",
    "Newton",
    "initial_values",
    "maximum_likelihood",
]
