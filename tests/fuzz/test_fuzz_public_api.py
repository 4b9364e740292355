"""Public-API fuzz test: every public callable, from a valid call, one argument made hostile.

Every name in every public ``__all__`` has a valid call in the registry
(harvested from the doctests, built from the signature, or written by hand in
``registry.py``) or a reason to be skipped. For each, hypothesis replaces one
argument at a time by a hostile value (NaN, ±inf, 1e308, negative, zero,
empty, a shorter or 2-D array, strings and objects where numbers go, None,
naive datetimes, NaT, a wrong enum string, a lone surrogate, a NUL byte,
10**400, ...). A case passes when the call returns a result holding no NaN
or inf (unless the caller passed ``nan_policy="propagate"``; NaN is also
accepted in a result field whose ``crmcore._results`` validator documents it,
and at the paths of ``DOCUMENTED_NAN``), or raises a crmcore error
(``CRMError``, or ``TypeError``) whose message names the argument, within
``SECONDS`` and 4 GiB more address space. A failure prints the qualified name,
the argument, the hostile value and what happened.

Findings still open are listed in ``OPEN_FINDINGS`` (strict xfail): remove
an entry when its fix lands (a fixed name then XPASSes and fails the gate);
``refresh_open_findings.py`` does it from a JUnit XML of a full run.
Every hostile case of every name (not only the sampled ones) is run by
``.venv/bin/python tests/fuzz/survey.py [name-substring ...]``.
"""

from __future__ import annotations

import fuzzlib
import pytest
import registry
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.fuzz

#: hypothesis examples per public name (each is one call with one hostile argument)
MAX_EXAMPLES = 30
#: the longest one call may run
SECONDS = 5.0

#: result paths where NaN is a documented "undefined" value (canonical name -> paths);
#: empty: the lead decides which NaN results are a documented design rather than a finding
DOCUMENTED_NAN: dict[str, tuple[str, ...]] = {}

#: open findings: canonical name -> what fails (strict xfail; remove when fixed)
OPEN_FINDINGS: dict[str, str] = {}

_OBJECTS = fuzzlib.public_objects()
_SKIPPED = {k for k, o in _OBJECTS.items() if registry.skip_reason(k, o) is not None}
_FUZZED = sorted(k for k in _OBJECTS if k not in _SKIPPED)


@pytest.fixture(scope="session")
def reg() -> fuzzlib.Registry:
    return fuzzlib.Registry.build(registry.HAND, registry.VALUES, registry.skip_reason)


def _param(key: str) -> object:
    if key in OPEN_FINDINGS:
        return pytest.param(key, marks=pytest.mark.xfail(strict=True, reason=OPEN_FINDINGS[key]))
    return key


def test_every_public_name_has_a_call_or_a_reason(reg: fuzzlib.Registry) -> None:
    """A new public name without a registry entry or a skip reason fails the gate."""
    assert reg.missing == {}, "public names with no valid call: add a HAND entry or a skip reason"
    listed = {canon for _, canon in fuzzlib.listed_names()}
    assert listed == set(reg.calls) | set(reg.skipped)
    assert not set(registry.SKIP) - listed, "SKIP names that are no longer public"
    assert not set(registry.HAND) - listed, "HAND names that are no longer public"
    assert not set(OPEN_FINDINGS) - set(reg.calls), "OPEN_FINDINGS names that are not fuzzed"


@pytest.mark.parametrize("key", [_param(k) for k in _FUZZED])
def test_public_name_survives_hostile_arguments(key: str, reg: fuzzlib.Registry) -> None:
    call = reg.calls.get(key)
    if call is None:
        pytest.fail(f"{key}: no valid call ({reg.missing.get(key)})")
    allow = DOCUMENTED_NAN.get(key, ())
    base = fuzzlib.run_case(key, call, None, None, SECONDS, allow)
    assert base is None, f"{base} [valid call from {call.source}]"
    by_label: dict[str, list[object]] = {}
    for label, value in reg.cases(key):
        by_label.setdefault(label, []).append(value)
    if not by_label:
        return

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.sampled_from(sorted(by_label)).flatmap(
            lambda label: st.tuples(st.just(label), st.sampled_from(by_label[label]))
        )
    )
    def one_hostile_argument(case: tuple[str, object]) -> None:
        label, value = case
        failure = fuzzlib.run_case(key, call, label, value, SECONDS, allow)
        assert failure is None, failure

    one_hostile_argument()
