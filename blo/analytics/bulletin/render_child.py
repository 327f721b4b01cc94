"""``python -m blo.analytics.bulletin.render_child``: renders bulletin editions in a process
of its own, for the schedule (:mod:`blo.analytics.bulletin.schedule`), so that matplotlib
and reportlab never hold the worker's interpreter (its GIL) while events are ingested.

Reads one pickle from standard input — ``(Bulletin, languages)`` — and writes one to
standard output: ``[(pdf, html), …]`` per language, in order. Exit 0, or 1 with the error
on standard error. Only the worker that started it writes to its input (a pipe).
"""

from __future__ import annotations

import pickle
import sys


def main() -> int:
    from blo.analytics.bulletin import render

    b, langs = pickle.load(sys.stdin.buffer)
    out = [(render(b, lang, "pdf"), render(b, lang, "html")) for lang in langs]
    pickle.dump(out, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
