"""The Docker engine and base images of tests/fixtures_docker.py, for the compose tests
of this folder only (nothing else of the suite starts Docker)."""

from tests.fixtures_docker import docker_base_images, docker_engine

__all__ = ["docker_base_images", "docker_engine"]
