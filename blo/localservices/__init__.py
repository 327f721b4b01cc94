"""Local services the project starts for itself (tests, ``blo demo``): no systemd, no Docker.

Each launcher runs one real service on free loopback ports under a directory it owns.
"""
