"""The plot extra: crmcore and crmcore.plot import without matplotlib, a call names the extra
to install, every public plot returns the Axes it drew on."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import pytest

import crmcore.plot
from crmcore.errors import MissingDependencyError
from crmcore.satisfaction import preset_curve


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_crmcore_imports_without_matplotlib_and_a_plot_names_the_extra() -> None:
    done = _run(
        """
        import sys
        import crmcore, crmcore.plot, crmcore.valuation, crmcore.segmentation
        import crmcore.pipeline, crmcore.satisfaction, crmcore.anomaly
        print("matplotlib" in sys.modules)  # the core never imports it
        sys.modules["matplotlib"] = None  # as if not installed
        from crmcore.errors import MissingDependencyError
        from crmcore.satisfaction import preset_curve
        try:
            crmcore.plot.plot_loyalty_curves({"high": preset_curve("high")})
        except MissingDependencyError as e:
            print(e)
        """
    )
    assert done.returncode == 0, done.stderr
    first, message = done.stdout.strip().split("\n")
    assert first == "False"
    assert "pip install 'crmcore[plot]'" in message


def test_a_call_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'crmcore\[plot\]'"):
        crmcore.plot.plot_loyalty_curves({"high": preset_curve("high")})


def test_every_plot_takes_ax_and_documents_an_example() -> None:
    for name in crmcore.plot.__all__:
        fn = getattr(crmcore.plot, name)
        params = inspect.signature(fn).parameters
        assert "ax" in params and params["ax"].default is None, name
        assert params["ax"].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert ">>> " in (fn.__doc__ or ""), name


def test_without_ax_a_pyplot_figure_is_made() -> None:
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    ax = crmcore.plot.plot_loyalty_curves({"high": preset_curve("high")})
    assert len(plt.get_fignums()) == before + 1
    assert plt.gcf() is ax.figure
