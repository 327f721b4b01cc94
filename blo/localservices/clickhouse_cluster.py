"""A local ClickHouse cluster for tests and trials: one ZooKeeper and N clickhouse-servers.

:class:`LocalClickHouseCluster` starts a standalone :class:`~blo.localservices.zookeeper.
ZooKeeper` and ``shards x replicas`` :class:`~blo.localservices.clickhouse_server.
ClickHouseServer` nodes on free loopback ports, each with an extra ``config.d/cluster.xml``:

* ``remote_servers`` — the cluster (default name ``blo_test``), ``internal_replication``
  on (the replicated tables copy data between replicas, not the Distributed table);
* ``zookeeper`` and ``distributed_ddl`` — for ``Replicated*MergeTree`` and ``ON CLUSTER``;
* ``macros`` — ``{shard}`` (``01``, ``02``, ...) and ``{replica}`` (``node1``, ``node2``,
  ... unique in the whole cluster, as ``sinks.cluster`` requires);
* its own ``interserver_http_port`` (replicas fetch parts over it).

With ``sync_inserts=True`` (the default) ``users.d/cluster.xml`` sets
``insert_distributed_sync=1`` in the default profile: an INSERT into a Distributed table
returns only once every shard has the rows, which the worker's commit-after-write relies
on (docs/clickhouse.md, "Running on a ClickHouse cluster").
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

from blo.localservices.clickhouse_server import ClickHouseServer
from blo.localservices.process import free_port
from blo.localservices.zookeeper import ZooKeeper

__all__ = ["ClusterNode", "LocalClickHouseCluster"]


class ClusterNode(ClickHouseServer):
    """A :class:`ClickHouseServer` with extra files under ``config.d/`` and ``users.d/``
    (ClickHouse merges them into ``config.xml`` / ``users.xml``)."""

    def __init__(
        self,
        directory: Path | str,
        *,
        shard: int,
        replica: str,
        config_xml: str,
        users_xml: str | None,
        tcp_port: int | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(directory, tcp_port=tcp_port, start_timeout_s=start_timeout_s)
        self.shard = shard
        self.replica = replica
        self._extra_config = config_xml
        self._extra_users = users_xml

    def _prepare(self) -> None:
        first = not self._prepared
        super()._prepare()
        if first:
            (self.directory / "config.d").mkdir(exist_ok=True)
            (self.directory / "config.d" / "cluster.xml").write_text(self._extra_config)
            if self._extra_users is not None:
                (self.directory / "users.d").mkdir(exist_ok=True)
                (self.directory / "users.d" / "cluster.xml").write_text(self._extra_users)


_SYNC_INSERTS_XML = """<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <insert_distributed_sync>1</insert_distributed_sync>
        </default>
    </profiles>
</yandex>
"""


class LocalClickHouseCluster:
    """ZooKeeper + ``shards * replicas`` ClickHouse nodes under ``directory``.

    A context manager. ``nodes[0]`` is shard 1's first replica; ``node_of(shard, i)``
    finds the others.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        name: str = "blo_test",
        shards: int = 2,
        replicas: int = 1,
        sync_inserts: bool = True,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.name = name
        self.zookeeper = ZooKeeper(self.directory / "zookeeper", start_timeout_s=start_timeout_s)
        layout = [(s, r) for s in range(1, shards + 1) for r in range(1, replicas + 1)]
        ports = {pos: free_port() for pos in layout}
        shard_xml = "".join(
            "\n            <shard><internal_replication>true</internal_replication>"
            + "".join(
                f"<replica><host>127.0.0.1</host><port>{ports[(s, r)]}</port></replica>"
                for r in range(1, replicas + 1)
            )
            + "</shard>"
            for s in range(1, shards + 1)
        )
        self.nodes: list[ClusterNode] = []
        for n, (s, r) in enumerate(layout, 1):
            replica = f"node{n}"
            config = f"""<?xml version="1.0"?>
<yandex>
    <remote_servers>
        <{name}>{shard_xml}
        </{name}>
    </remote_servers>
    <zookeeper>
        <node><host>{self.zookeeper.host}</host><port>{self.zookeeper.port}</port></node>
        <session_timeout_ms>30000</session_timeout_ms>
    </zookeeper>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
    <macros><shard>{s:02d}</shard><replica>{replica}</replica></macros>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>{free_port()}</interserver_http_port>
</yandex>
"""
            self.nodes.append(ClusterNode(
                self.directory / replica, shard=s, replica=replica, config_xml=config,
                users_xml=_SYNC_INSERTS_XML if sync_inserts else None,
                tcp_port=ports[(s, r)], start_timeout_s=start_timeout_s,
            ))

    def node_of(self, shard: int, index: int = 0) -> ClusterNode:
        return [n for n in self.nodes if n.shard == shard][index]

    def start(self) -> Self:
        self.zookeeper.start()
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.zookeeper.stop()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join([self.zookeeper.log_tail(lines)]
                         + [node.log_tail(lines) for node in self.nodes])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalClickHouseCluster({self.name!r}, {len(self.nodes)} nodes, {self.directory})"
