"""Pytest plugin: a Docker engine of the session's own, and the local images the compose
tests build on (no registry is reachable on the test machines).

Registered from ``tests/integration/docker/conftest.py``. Fixtures:

* ``docker_engine`` (session): :class:`DockerEngine` started by hand (``make services-deps``
  installs Debian's ``docker.io`` and Compose v2). It **fails** the tests that use it if the
  daemon cannot start, never skips; at the end it is stopped and the machine's network
  must be as it was (iptables rules and chains, ``docker0``, ``ip_forward``), else the
  teardown fails.
* ``docker_base_images`` (session): ``blo-test/debian:bookworm`` (``debootstrap
  --variant=minbase`` then ``docker import``; reused for a week from the engine's kept
  data-root) and ``blo-test/python:3.11-slim``, the stand-in for the ``python:3.11-slim``
  base of ``docker/Dockerfile``, built from ``tests/integration/docker/standins/python``.

:func:`build_standin` builds one of the other stand-ins of that folder (its build context
made in a temporary folder, with the files a test adds, e.g. the Tansu binary).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blo.localservices.docker_engine import DockerEngine, DockerEngineError, debian_mirror

STANDINS = Path(__file__).resolve().parent / "integration" / "docker" / "standins"
BASE_IMAGE = "blo-test/debian:bookworm"
PYTHON_IMAGE = "blo-test/python:3.11-slim"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_MAX_AGE = timedelta(days=7)


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    # a short exec-root: containerd's sockets live under it (108-byte socket path limit)
    workdir = Path(tempfile.mkdtemp(prefix="blo-dockerd-"))
    engine = DockerEngine(workdir)
    engine.start()  # DockerEngineError fails every test that asked for the engine
    try:
        # the data-root is kept between runs (images, build cache): what an interrupted
        # run left running or stored is ours, and gone before we start
        leftovers = engine.docker("ps", "-aq").stdout.split()
        if leftovers:
            engine.docker("rm", "-f", "-v", *leftovers)
        engine.docker("network", "prune", "-f")
        engine.docker("volume", "prune", "-f")
        yield engine
    finally:
        try:
            engine.docker("image", "prune", "-f", check=False)
        finally:
            engine.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    changes = engine.network_changes()
    assert not changes, f"the Docker engine left the machine's network changed: {changes}"


def image_created(engine: DockerEngine, image: str) -> datetime | None:
    r = engine.docker("image", "inspect", image, check=False)
    if r.returncode != 0:
        return None
    created = json.loads(r.stdout)[0]["Created"]  # RFC 3339 with nanoseconds
    return datetime.fromisoformat(created[:19]).replace(tzinfo=UTC)


def build_standin(engine: DockerEngine, name: str, tag: str,
                  extra_files: Mapping[str, Path] = {}) -> str:
    """``docker build`` of ``standins/<name>`` (legacy builder: these images need nothing
    of BuildKit) into ``tag``, with ``extra_files`` (name in the context -> source) copied
    into the context. Returns ``tag``."""
    with tempfile.TemporaryDirectory(prefix=f"blo-standin-{name}-") as tmp:
        context = Path(tmp) / name
        shutil.copytree(STANDINS / name, context)
        for target, source in extra_files.items():
            shutil.copyfile(source, context / target)
        engine.docker("build", "-q", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", tag,
                      str(context), env={"DOCKER_BUILDKIT": "0"}, timeout=900)
    return tag


def _debootstrap_base(engine: DockerEngine) -> None:
    if shutil.which("debootstrap") is None:
        raise DockerEngineError("debootstrap not found (Debian package; make services-deps)")
    with tempfile.TemporaryDirectory(prefix="blo-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs),
                            debian_mirror()], capture_output=True, text=True, timeout=900,
                           check=False)
        if r.returncode != 0:
            raise DockerEngineError(f"debootstrap failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imported = subprocess.run(["/usr/bin/docker", "import", "-", BASE_IMAGE],
                                  stdin=tar.stdout, capture_output=True, text=True,
                                  env=engine.env(), timeout=600, check=False)
        tar.stdout.close()
        tar.wait(60)
        if imported.returncode != 0 or tar.returncode != 0:
            raise DockerEngineError(f"docker import failed: {imported.stderr}")


@pytest.fixture(scope="session")
def docker_base_images(docker_engine: DockerEngine) -> dict[str, str]:
    created = image_created(docker_engine, BASE_IMAGE)
    if created is None or datetime.now(UTC) - created > BASE_MAX_AGE:
        _debootstrap_base(docker_engine)
    build_standin(docker_engine, "python", PYTHON_IMAGE,
                  {"ca-certificates.crt": HOST_CA_BUNDLE})
    return {"base": BASE_IMAGE, "python": PYTHON_IMAGE}
