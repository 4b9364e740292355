"""``python -m crmcore``: see :mod:`crmcore.cli`."""

from __future__ import annotations

import sys

from crmcore.cli import main

if __name__ == "__main__":
    sys.exit(main())
