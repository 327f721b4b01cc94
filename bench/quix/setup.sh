#!/bin/sh
# The bench-only virtualenv for the Quix Streams peer (bench/quix/job.py): Quix Streams 3.28
# pins pydantic < 2.14, the project uses 2.14, so it lives apart from .venv.
#   sh bench/quix/setup.sh            # creates bench/.venv-quix (idempotent)
# The project's schemas are imported from the repo through PYTHONPATH, so their own
# dependencies (orjson, pycountry, tzdata) are installed here too.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
VENV=${QUIX_VENV:-$HERE/.venv-quix}
PY=${PYTHON:-python3.11}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "quixstreams==3.28.*" "clickhouse-driver==0.2.11" \
    orjson pycountry tzdata
"$VENV/bin/python" -c "import quixstreams, pydantic, confluent_kafka; print('quixstreams', quixstreams.__version__, 'pydantic', pydantic.VERSION, 'confluent-kafka', confluent_kafka.version()[0])"
