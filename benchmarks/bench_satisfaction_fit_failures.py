"""Robustness: how often do the loyalty fit and the moderation test fail on ordinary surveys?

Run: ``.venv/bin/python benchmarks/bench_satisfaction_fit_failures.py`` (default 100
seeded surveys of 1,000 answers per design; ``--reps``, ``--size`` to change). The
designs cross four true models (the illustrative preset; a moderated model; one curve
with a floor of 0.3; one curve with no floor), two answer distributions (skewed to 4-5
as in docs/satisfaction.md, uniform) and four competition designs (2, 3 and 5 fixed
levels; 8 random levels per survey). For each design the script prints how many
``fit_loyalty`` and ``moderation_test`` calls raised ``FitError``, how many fits ended
on the boundary of the parameter space (the floor 0 at some levels) and the CPU time
per fit. Every survey here has a maximum of the likelihood (checked against an
independent optimiser in ``tests/satisfaction/test_satisfaction_fit_boundary.py``), so
every FitError is spurious. To measure another version, put its ``src`` first on
``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from crmcore.errors import FitError
from crmcore.satisfaction import LoyaltyModel, fit_loyalty, moderation_test, preset_model

TRUTHS = {
    "preset": preset_model(),
    "moderated": LoyaltyModel(
        intercept=1.2, log_slope=0.2, floor_logit=0.5, intercept_competition=0.4,
        log_slope_competition=0.8, floor_logit_competition=-3.0,
    ),
    "floor 0.3": LoyaltyModel(intercept=1.0, log_slope=0.0, floor_logit=float(np.log(0.3 / 0.7))),
    "no floor": LoyaltyModel(intercept=1.0, log_slope=0.0, floor_logit=-30.0),
}  # fmt: skip
ANSWERS = {"skewed": [0.05, 0.1, 0.25, 0.35, 0.25], "uniform": [0.2] * 5}
DESIGNS: dict[str, list[float] | None] = {
    "2 levels": [0.1, 0.9],
    "3 levels": [0.2, 0.5, 0.8],
    "5 levels": [0.0, 0.25, 0.5, 0.75, 1.0],
    "8 random": None,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--size", type=int, default=1000)
    args = ap.parse_args()
    print(f"loyalty fit on ordinary surveys: {args.reps} x {args.size:,} answers per design")
    print(f"  {'truth':<10}{'answers':<9}{'design':<10}  fit-err  test-err  boundary  ms/fit")
    total = np.zeros(4)
    for (t, truth), (a, p), (d, levels) in itertools.product(
        TRUTHS.items(), ANSWERS.items(), DESIGNS.items()
    ):
        fit_err = test_err = boundary = 0
        cpu = 0.0
        for seed in range(args.reps):
            rng = np.random.default_rng(seed)
            s = rng.choice(np.arange(1, 6), size=args.size, p=p)
            c = rng.choice(np.round(rng.random(8), 2) if levels is None else levels, args.size)
            y = (rng.random(args.size) < truth.probability(s, c)).astype(int)
            t0 = time.process_time()
            try:
                fit = fit_loyalty(s, y, c)
                boundary += bool(getattr(fit, "boundary", ()))
            except FitError:
                fit_err += 1
            cpu += time.process_time() - t0
            try:
                moderation_test(s, y, c)
            except FitError:
                test_err += 1
        total += (fit_err, test_err, boundary, args.reps)
        print(
            f"  {t:<10}{a:<9}{d:<10}  {fit_err:>7}  {test_err:>8}  {boundary:>8}"
            f"  {cpu / args.reps * 1000:6.1f}"
        )
    n = int(total[3])
    print(
        f"  all {n:,} surveys: fit FitError {int(total[0])} ({total[0] / n:.1%}), "
        f"test FitError {int(total[1])} ({total[1] / n:.1%}), "
        f"boundary fits {int(total[2])} ({total[2] / n:.1%})"
    )


if __name__ == "__main__":
    main()
