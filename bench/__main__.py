"""`make bench`: run every benchmark module (or those named) and print their figures.

Modules marked `LONG = True` run only when named.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = sys.argv[1:]
    names = sorted(
        info.name for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not info.name.startswith("_") and info.name != "common"
    )
    for name in names:
        if wanted and name not in wanted:
            continue
        module = importlib.import_module(f"bench.{name}")
        if getattr(module, "LONG", False) and not wanted:
            continue  # minutes long: only when named (`make bench-soak`)
        print(f"# bench/{name}", flush=True)
        asyncio.run(module.main())


if __name__ == "__main__":
    main()
