"""The hypothesis entry point: registers crmcore's model strategies when hypothesis loads.

Kept apart from :mod:`crmcore.testing.strategies` so that importing that
module (which imports hypothesis) never re-enters itself.
"""

from __future__ import annotations


def _hypothesis_setup_hook() -> None:
    from hypothesis import strategies as st

    from crmcore.model import MODEL_TYPES

    def lazy(cls: type) -> st.SearchStrategy[object]:
        def build() -> st.SearchStrategy[object]:
            from crmcore.testing.strategies import strategy_for

            return strategy_for(cls)

        return st.deferred(build)

    for cls in MODEL_TYPES:
        st.register_type_strategy(cls, lazy(cls))
