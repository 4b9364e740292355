"""The commands of ``crmcore`` (see :mod:`crmcore.cli`): one module per command, each with
``register(sub, common)`` adding its parser and the function that runs it."""
