"""Benchmark: scoring 1,000,000 open deals with a fitted deal-scoring model.

crmcore: ``score_deals`` on a ``FunnelHistory`` holding about 1,080,000 open
deals (synthetic, seeded): the moment of every open deal, its level of each
of the model's factors (stage, path so far, age, time in stage, amount band,
owner, product, lead source, employees band), the log-odds, the probability,
and the per-deal level table the explanations are read from. The model is
fitted on a separate synthetic history of 100,000 deals (fit time printed)
and given a path factor (all paths in this synthetic history are direct, so
the fit leaves it out) so that every factor is computed.

Peer (the floor an application would otherwise write): the same score deal
by deal in a Python loop (dictionary look-ups and ``bisect`` for the bands),
timed on 50,000 deals and scaled to the same number of deals; its scores are
checked equal to crmcore's. scikit-learn is not a crmcore dependency and is
not installed in the project's environment, so it is not compared.

Target (issue 14): scoring 1,000,000 open deals in under 2 s.

Run: .venv/bin/python benchmarks/bench_pipeline_scoring.py [--deals N]
"""

from __future__ import annotations

import argparse
import bisect
import math
import time
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from crmcore.pipeline import B2B, FunnelHistory
from crmcore.pipeline._scoring_features import PATHS, path_codes
from crmcore.pipeline.scoring import (
    DealScoreModel,
    fit_deal_scores,
    score_deals,
    synthetic_scoring_pipeline,
)

_DAY = np.timedelta64(86_400_000_000, "us")


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def with_path(model: DealScoreModel) -> DealScoreModel:
    """The model with a path factor (direct 0, skipped +0.2, went back -0.4, reopened -0.8)."""
    coefs = tuple(0.2 * (c & 1) - 0.4 * ((c >> 1) & 1) - 0.8 * ((c >> 2) & 1) for c in range(8))
    i = 1
    return attrs.evolve(
        model,
        factors=(*model.factors[:i], "path", *model.factors[i:]),
        kinds=(*model.kinds[:i], "path", *model.kinds[i:]),
        levels=(*model.levels[:i], PATHS, *model.levels[i:]),
        edges=(*model.edges[:i], (), *model.edges[i:]),
        coefficients=(*model.coefficients[:i], coefs, *model.coefficients[i:]),
        centre=(*model.centre[:i], 0.0, *model.centre[i:]),
    )


def python_loop(
    model: DealScoreModel, fh: FunnelHistory, fields: Any, rows: np.ndarray
) -> list[float]:
    """The score deal by deal, as a loop over Python objects would compute it."""
    names = fh.funnel.stage_names
    opp_ids = fh.opportunity_ids
    owners = fh.owner_ids.tolist()
    products = fh.products.tolist()
    paths = path_codes(fh)
    ends = np.flatnonzero(np.append(fh.ev_opp[1:] != fh.ev_opp[:-1], True))
    row_of = {str(x): i for i, x in enumerate(fields.opportunity_ids.tolist())}
    tables = []
    for f, kind, levels, edges, co in zip(model.factors, model.kinds, model.levels, model.edges,
                                          model.coefficients, strict=True):  # fmt: skip
        tables.append((f, kind, {lv: i for i, lv in enumerate(levels)}, list(edges), co))
    as_of = fh.as_of
    out = []
    for r in rows.tolist():  # the loop under test
        oid = str(opp_ids[fh.opportunity_codes[r]])
        fr = row_of.get(oid)
        total = model.intercept
        for f, kind, index, edges, co in tables:
            if kind == "stage":
                level = index[names[fh.final_stage[r]]]
            elif kind == "path":
                level = int(paths[ends[r]])
            elif kind == "days":
                start = fh.created[r] if f == "age" else fh.entered[r]
                level = bisect.bisect_right(edges, float((as_of - start) / _DAY))
            elif kind == "band":
                if f == "amount":
                    v = float(fh.amount[r])
                else:
                    col = fields.values[fields.names.index(f)]
                    v = float(col[fr]) if fr is not None else math.nan
                level = len(edges) + 1 if math.isnan(v) else bisect.bisect_right(edges, v)
            else:
                if f == "owner":
                    label = owners[fh.owner[r]] or None
                elif f == "product":
                    p = fh.product[r]
                    label = products[p] if p >= 0 else None
                else:
                    i = fields.names.index(f)
                    code = int(fields.values[i][fr]) if fr is not None else -1
                    label = str(fields.labels[i][code]) if code >= 0 else None
                level = len(index) - 1 if label is None else index.get(label, len(index) - 2)
            total += co[level]
        out.append(1.0 / (1.0 + math.exp(-total)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deals", type=int, default=1_150_000, help="deals generated (most open)")
    ap.add_argument("--loop", type=int, default=50_000, help="deals scored by the Python loop")
    args = ap.parse_args()

    train = synthetic_scoring_pipeline(B2B, n_opportunities=100_000, seed=1)
    t = time.perf_counter()
    model = fit_deal_scores(train.history, B2B, fields=train.fields)
    fit_s = time.perf_counter() - t
    model = with_path(model)
    big = synthetic_scoring_pipeline(
        B2B, n_opportunities=args.deals, seed=2, days=45, won_days=60, lost_days=90
    )
    build_s, fh = best_of(lambda: FunnelHistory.build(big.history, B2B), 3)
    n_open = int(fh.is_open.sum())
    score_s, scores = best_of(lambda: score_deals(model, fh, fields=big.fields), 5)
    both_s, _ = best_of(
        lambda: score_deals(model, FunnelHistory.build(big.history, B2B), fields=big.fields), 3
    )
    rows = np.flatnonzero(fh.is_open)[: args.loop]
    loop_s, looped = best_of(lambda: python_loop(model, fh, big.fields, rows), 1)
    err = float(np.max(np.abs(np.array(looped) - scores.probability[: len(rows)])))
    assert err < 1e-9, err
    loop_full = loop_s / len(rows) * n_open
    print(f"Deal scoring: {n_open:,} open deals ({len(big.history):,} events), "
          f"{len(model.factors)} factors ({', '.join(model.factors)})")  # fmt: skip
    print(f"  fit on {model.n_deals:,} closed deals ({model.n_moments:,} moments)  {fit_s:8.3f} s")
    print(f"  score_deals (FunnelHistory given)    {score_s:8.3f} s   target < 2 s: "
          f"{'met' if score_s < 2 else 'NOT met'}")  # fmt: skip
    print(f"  FunnelHistory.build + score_deals    {both_s:8.3f} s   (build alone {build_s:.3f} s)")
    print(f"  Python loop per deal (floor)         {loop_full:8.3f} s   "
          f"(timed on {len(rows):,} deals, scaled)  crmcore is {loop_full / score_s:5.1f}x faster")  # fmt: skip
    print(f"  largest difference loop vs crmcore   {err:.1e}")


if __name__ == "__main__":
    main()
