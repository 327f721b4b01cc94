"""Run ``blo worker`` with experimental patches applied in-process: what-if measurements.

    python bench/worker_variants.py nolookup -- worker --migrate

(what ``pipeline_bench.py --variant nolookup`` runs instead of ``python -m blo``).
Nothing outside bench/ is changed; each patch replaces one function in this process only,
to measure how much a proposed change to the product would gain before anyone writes it.

Variants:

* ``nolookup`` -- ``IngestRuntime._lookup_hashes`` returns ``{}`` at once: the upper bound
  of any cheaper conflict lookup (NOT a safe change: conflicts across restarts would go
  undetected). The product's lookup is already one query per batch with the ids sent as
  data (``Database.stored_body_hashes``; the former ``extlookup`` variant measured it).

The former ``extlookup``, ``gc``, ``orjson`` and ``aiokafka`` variants are now the product
(the conflict lookup with the ids sent as data, ``blo.worker.tune_gc``, the orjson path of
``schemas.identity.canonical_json``, and the raw topic taken from each fetch in bulk,
:mod:`streams.raw_feed`); docs/performance.md keeps what they measured.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _nolookup() -> None:
    from streams.runtime import IngestRuntime

    async def _lookup_hashes(self, stations: Sequence[str], ids: Sequence[UUID]
                             ) -> dict[UUID, str]:
        return {}

    IngestRuntime._lookup_hashes = _lookup_hashes  # type: ignore[method-assign]


VARIANTS = {"nolookup": _nolookup}


def apply(names: str) -> list[str]:
    applied = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        VARIANTS[name]()
        applied.append(name)
    return applied


def main() -> None:
    argv = sys.argv[1:]
    if not argv or "--" not in argv:
        raise SystemExit(__doc__)
    split = argv.index("--")
    names, rest = ",".join(argv[:split]), argv[split + 1 :]
    applied = apply(names)
    print(f"worker_variants: applied {applied}", file=sys.stderr, flush=True)
    from blo.cli import main as blo_main

    blo_main(args=rest, prog_name="blo")


if __name__ == "__main__":
    main()
