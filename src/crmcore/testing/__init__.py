"""Testing helpers for crmcore users: hypothesis strategies, the repository contract suite,
and stateful machines. Needs the ``testing`` extra (hypothesis).

>>> from crmcore.testing import strategies
>>> callable(strategies.customers)
True
"""
