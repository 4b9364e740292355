"""Cross-sell and up-sell candidates from co-purchase patterns.

From the purchases (customer, product) a sparse 0/1 incidence matrix ``X``
(customers × products) is built once; ``N = XᵀX`` counts, for every pair of
products, the customers who bought both (its diagonal: who bought each).
With ``n`` customers:

* support ``s(i, j) = N_ij / n``;
* confidence ``c(i → j) = N_ij / N_ii`` (of those who bought ``i``, the share who bought ``j``);
* lift ``l(i, j) = N_ij · n / (N_ii · N_jj)`` (> 1: bought together more than by chance).

Candidates per customer (item-based): the score of a product ``j`` the
customer does not own is the sum, over the products ``i`` they own, of
``l(i, j)`` (or ``c(i → j)``), counting only pairs bought together by at
least ``min_count`` customers and, for lift, only positive associations
(lift > 1). The top ``k`` per customer are kept; ties in score are broken by
product order.

>>> cp = co_purchase(["a", "a", "b", "b", "c", "c", "d"], ["cd", "dvd", "cd", "dvd", "cd", "book", "cd"])
>>> cp.products.tolist(), cp.counts.tolist()
(['book', 'cd', 'dvd'], [[1, 1, 0], [1, 4, 2], [0, 2, 2]])
>>> round(cp.confidence("cd", "dvd"), 2), round(cp.lift("cd", "dvd"), 2)
(0.5, 1.0)
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crmcore._frames import Columns, Tabular
from crmcore._results import COUNT, NONNEGATIVE, PROBABILITY, array
from crmcore.arrays import FloatArray, IntArray, check_same_length
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.model._fields import instance
from crmcore.options import as_choice, as_count

__all__ = ["CoPurchase", "PairStat", "Recommendations", "co_purchase"]

_INT64_MAX = 2**63 - 1
_MAX_K = 65_536  # recommendations per customer (the result holds n × k codes)


@attrs.frozen
class PairStat:
    """Association of two products: both bought by ``count`` customers.

    >>> co_purchase([1, 1], ["x", "y"]).pairs()[0].confidence
    1.0
    """

    antecedent: str
    consequent: str
    count: int = attrs.field(validator=COUNT)
    support: float = attrs.field(validator=PROBABILITY)
    confidence: float = attrs.field(validator=PROBABILITY)
    lift: float = attrs.field(validator=NONNEGATIVE)


@attrs.frozen(eq=False)
class Recommendations(Tabular):
    """Top-k candidate products per customer (``codes`` index ``products``; -1 = none).

    >>> rec = co_purchase([1, 1, 2, 3], ["x", "y", "x", "z"]).recommend(k=2)
    >>> rec.codes.tolist()
    [[-1, -1], [1, -1], [-1, -1]]
    """

    customer_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    products: npt.NDArray[Any] = attrs.field(validator=array("O"))
    codes: IntArray = attrs.field(validator=array("i", lo=-1, ndim=2))  # (customers, k)
    scores: FloatArray = attrs.field(validator=array(ndim=2, length="codes"))  # (customers, k)

    def for_customer(self, customer_id: Any) -> list[tuple[str, float]]:
        """``(product, score)`` candidates of one customer, best first."""
        pos = np.flatnonzero(self.customer_ids == customer_id)
        if len(pos) == 0:
            raise ValidationError(f"no customer {customer_id!r} in the recommendations")
        row = int(pos[0])
        return [
            (str(self.products[c]), float(s))
            for c, s in zip(self.codes[row], self.scores[row], strict=True)
            if c >= 0
        ]

    def _columns(self) -> Columns:
        row, rank = np.nonzero(self.codes >= 0)
        return {
            "customer_id": self.customer_ids[row],
            "rank": rank + 1,
            "product": self.products[self.codes[row, rank]],
            "score": self.scores[row, rank],
        }


@attrs.frozen(eq=False)
class CoPurchase:
    """The co-purchase counts of products over customers (see the module docstring).

    >>> co_purchase([1, 1, 2], ["x", "y", "x"]).n_customers
    2
    """

    customer_ids: npt.NDArray[Any] = attrs.field(validator=array("O"))
    products: npt.NDArray[Any] = attrs.field(validator=array("O"))
    incidence: sp.csr_matrix = attrs.field(
        validator=instance(sp.csr_matrix, "a scipy.sparse.csr_matrix (customers x products)")
    )
    counts: IntArray = attrs.field(validator=array("i", lo=0, ndim=2))  # (products, products)

    @property
    def n_customers(self) -> int:
        """Customers with at least one purchase."""
        return len(self.customer_ids)

    def _p(self, product: str) -> int:
        pos = np.flatnonzero(self.products == product)
        if len(pos) == 0:
            raise ValidationError(f"unknown product {product!r}")
        return int(pos[0])

    def support(self, a: str, b: str) -> float:
        """Share of customers who bought both ``a`` and ``b``."""
        return float(self.counts[self._p(a), self._p(b)]) / self.n_customers

    def confidence(self, a: str, b: str) -> float:
        """Share of the buyers of ``a`` who also bought ``b``."""
        i, j = self._p(a), self._p(b)
        return float(self.counts[i, j]) / float(self.counts[i, i])

    def lift(self, a: str, b: str) -> float:
        """How much more often ``a`` and ``b`` are bought together than by chance."""
        i, j = self._p(a), self._p(b)
        return (
            float(self.counts[i, j])
            * self.n_customers
            / float(self.counts[i, i] * self.counts[j, j])
        )

    def lift_matrix(self) -> FloatArray:
        """Lift of every pair (products × products)."""
        d = np.diag(self.counts).astype(np.float64)
        return self.counts * float(self.n_customers) / np.outer(d, d)

    def confidence_matrix(self) -> FloatArray:
        """``c(i → j)`` for every pair (row = antecedent)."""
        d = np.diag(self.counts).astype(np.float64)
        return self.counts / d[:, None]

    def pairs(self, *, min_count: int = 1, top: int | None = None) -> list[PairStat]:
        """Ordered pairs ``i → j`` (``i ≠ j``) with at least ``min_count`` joint buyers, by lift then count.

        >>> cp = co_purchase([1, 1, 2, 2, 3], ["x", "y", "x", "y", "z"])
        >>> [(p.antecedent, p.consequent, p.count, round(p.lift, 2)) for p in cp.pairs()]
        [('x', 'y', 2, 1.5), ('y', 'x', 2, 1.5)]
        """
        min_count = as_count(min_count, name="min_count", high=_INT64_MAX)
        top = None if top is None else as_count(top, name="top", high=_INT64_MAX)
        lift = self.lift_matrix()
        conf = self.confidence_matrix()
        i, j = np.nonzero(self.counts >= max(min_count, 1))
        keep = i != j
        i, j = i[keep], j[keep]
        order = np.lexsort((i, -self.counts[i, j], -lift[i, j]))
        if top is not None:
            order = order[:top]
        n = self.n_customers
        return [
            PairStat(
                str(self.products[a]),
                str(self.products[b]),
                int(self.counts[a, b]),
                float(self.counts[a, b]) / n,
                float(conf[a, b]),
                float(lift[a, b]),
            )
            for a, b in zip(i[order], j[order], strict=True)
        ]

    def recommend(
        self, k: int = 3, *, score: str = "lift", min_count: int = 1, chunk: int = 8192
    ) -> Recommendations:
        """Top-``k`` products each customer does not own, scored from the products they own.

        >>> cp = co_purchase(["a", "a", "b", "b", "c", "d"], ["cd", "dvd", "cd", "dvd", "cd", "book"])
        >>> [(p, round(s, 3)) for p, s in cp.recommend(k=2).for_customer("c")]
        [('dvd', 1.333)]
        >>> cp.recommend(k=1, score="confidence").for_customer("c")
        [('dvd', 0.6666666666666666)]
        """
        score = as_choice(score, name="score", allowed=("lift", "confidence"))
        k = as_count(k, name="k", low=1, high=_MAX_K)
        min_count = as_count(min_count, name="min_count", high=_INT64_MAX)
        chunk = as_count(chunk, name="chunk", low=1, high=_INT64_MAX)
        w = self.lift_matrix() if score == "lift" else self.confidence_matrix()
        w = np.where(self.counts >= max(min_count, 1), w, 0.0)
        if score == "lift":
            w = np.where(w > 1.0, w, 0.0)
        np.fill_diagonal(w, 0.0)
        n, p = self.incidence.shape
        kk = min(k, p)
        codes = np.full((n, k), -1, dtype=np.int64)
        scores = np.zeros((n, k))
        for start in range(0, n, chunk):
            x = self.incidence[start : start + chunk]
            s = np.asarray(x @ w)
            s[x.toarray() > 0] = 0.0
            # stable top-k: sort by (-score, product index)
            top = np.argsort(-s, axis=1, kind="stable")[:, :kk]
            val = np.take_along_axis(s, top, axis=1)
            top = np.where(val > 0, top, -1)
            codes[start : start + chunk, :kk] = top
            scores[start : start + chunk, :kk] = np.where(val > 0, val, 0.0)
        return Recommendations(self.customer_ids, self.products, codes, scores)


def co_purchase(customer_ids: npt.ArrayLike, products: npt.ArrayLike) -> CoPurchase:
    """Build the co-purchase counts from aligned per-purchase arrays (repeats count once).

    >>> co_purchase(["a"], [])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: inputs must have the same length: customer_ids has 1, products has 0
    """
    cust_labels, ci = factorize_labels(customer_ids, name="customer_ids")
    prod_labels, pi = factorize_labels(products, name="products")
    check_same_length(customer_ids=ci, products=pi)
    n, p = len(cust_labels), len(prod_labels)
    x = sp.csr_matrix(
        (np.ones(len(ci), dtype=np.int64), (ci.astype(np.int64), pi.astype(np.int64))), shape=(n, p)
    )
    x.sum_duplicates()
    x.data[:] = 1
    counts = np.asarray((x.T @ x).toarray(), dtype=np.int64)
    return CoPurchase(cust_labels, prod_labels, x, counts)
