"""``python3 -m suanli_ray_runner --id SID [...] -- COMMAND [ARG...]``: see the package doc."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # On a Ray node the package is the top-level `suanli_ray_runner` (shipped through
    # py_modules); in the project it is `suanli.adapters.engines.suanli_ray_runner`. Its
    # `__init__` is already imported under whichever name runs: use that one.
    package = sys.modules[__package__ or "suanli_ray_runner"]
    sys.exit(package.main(sys.argv[1:]))
