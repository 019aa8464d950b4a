"""A NATS JetStream cluster on this machine's loopback, for tests, the cluster benchmark and a quick start.

    with LocalNatsCluster(Path("/tmp/nats"), nodes=3) as cluster:
        url = cluster.url            # nats://127.0.0.1:P1,nats://127.0.0.1:P2,nats://127.0.0.1:P3
        cluster.kill(1); cluster.start(1)

Each node is a real `nats-server -js` process (Debian package `nats-server`) with its own config file, store
directory and free loopback ports (client, cluster route, monitoring). Nodes keep their ports and store across
kill/start, so a restarted node rejoins the cluster and catches up its streams (the 'partition heals' case).
Not for production: one machine holds every replica, so it survives a process dying, not the machine.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Self

NATS_SERVER_BINARY = "nats-server"
#: A node must report ready (monitoring /healthz ok) within this long after starting.
NODE_START_TIMEOUT_S = 10.0
#: The largest message a client may publish; the server default (1 MB) is kept so that the journal's
#: splitting of large batches is exercised for real.
MAX_PAYLOAD_BYTES = 1024 * 1024
#: First starts retried on fresh ports when a picked port was taken in between.
FRESH_START_ATTEMPTS = 3


def nats_server_path() -> str | None:
    """The nats-server binary, or None when it is not installed. Debian puts it in /usr/sbin, which is not
    on every user's PATH."""
    system_dirs = "/usr/sbin:/usr/local/sbin"
    return shutil.which(NATS_SERVER_BINARY) or shutil.which(NATS_SERVER_BINARY, path=system_dirs)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Node:
    def __init__(self, index: int, directory: Path) -> None:
        self.index = index
        self.name = f"n{index + 1}"
        self.directory = directory
        self.client_port = free_port()
        self.cluster_port = free_port()
        self.monitor_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"


class LocalNatsCluster:
    """`nodes` nats-server processes forming one JetStream cluster (nodes=1: a single JetStream server)."""

    def __init__(self, directory: Path, nodes: int = 3, cluster_name: str = "rail") -> None:
        if nats_server_path() is None:
            raise FileNotFoundError(
                "nats-server is not installed: apt-get install nats-server (Debian) or see https://nats.io"
            )
        if not 1 <= nodes <= 5:
            raise ValueError("a local cluster has 1 to 5 nodes")
        self.directory = Path(directory)
        self.cluster_name = cluster_name
        self.nodes = [_Node(i, self.directory / f"n{i + 1}") for i in range(nodes)]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (what `--journal nats://...` takes)."""
        return ",".join(node.url for node in self.nodes)

    def _write_config(self, node: _Node) -> Path:
        node.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f'server_name: "{node.name}"',
            "host: 127.0.0.1",
            f"port: {node.client_port}",
            f"http_port: {node.monitor_port}",
            f"max_payload: {MAX_PAYLOAD_BYTES}",
            f'jetstream {{ store_dir: "{node.directory / "store"}" }}',
        ]
        if len(self.nodes) > 1:
            routes = ", ".join(
                f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes if n is not node
            )
            lines.append(
                f'cluster {{ name: "{self.cluster_name}", host: 127.0.0.1, port: {node.cluster_port}, '
                f"routes: [{routes}] }}"
            )
        path = node.directory / "nats.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, index: int | None = None) -> None:
        """Start one node (or every node not running) and wait until each is ready."""
        targets = self.nodes if index is None else [self.nodes[index]]
        for node in targets:
            if node.process is not None and node.process.poll() is None:
                continue
            config = self._write_config(node)
            log = open(node.directory / "nats.log", "ab")  # noqa: SIM115 - kept open for the process's life
            node.process = subprocess.Popen(
                [nats_server_path() or NATS_SERVER_BINARY, "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
        for node in targets:
            self._wait_ready(node)

    def _wait_ready(self, node: _Node) -> None:
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                log = (node.directory / "nats.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"nats-server {node.name} exited at start:\n{log}")
            try:
                # /varz answers as soon as the client port is usable (healthz waits for a JetStream
                # quorum, which a cluster only has once a majority of nodes is up).
                with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/varz", timeout=1) as r:
                    json.load(r)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server {node.name} not ready after {NODE_START_TIMEOUT_S} s")

    def wait_jetstream_ready(self, timeout_s: float = 15.0) -> None:
        """Wait until every running node reports JetStream healthy (meta leader elected, streams current)."""
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            while True:
                try:
                    url = f"http://127.0.0.1:{node.monitor_port}/healthz"
                    with urllib.request.urlopen(url, timeout=1) as r:
                        if json.load(r).get("status") == "ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JetStream on {node.name} not healthy after {timeout_s} s")
                time.sleep(0.1)

    def kill(self, index: int) -> None:
        """SIGKILL one node (a crashed machine, as far as the others can tell)."""
        node = self.nodes[index]
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait()

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    def start_fresh(self) -> None:
        """First start of every node. Free ports are picked before the servers bind them, so another
        process may take one meanwhile: then all nodes start again on new ports (the routes name them all)."""
        for attempt in range(FRESH_START_ATTEMPTS):
            try:
                self.start()
                return
            except RuntimeError as error:
                self.stop()
                if "address already in use" not in str(error) or attempt == FRESH_START_ATTEMPTS - 1:
                    raise
                for node in self.nodes:
                    node.client_port, node.cluster_port, node.monitor_port = (
                        free_port(),
                        free_port(),
                        free_port(),
                    )
                    node.process = None

    def __enter__(self) -> Self:
        self.start_fresh()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main() -> int:
    """`python -m rail.cluster.nats_local DIR [NODES]`: run a local cluster in the foreground until Ctrl-C."""
    import sys

    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "nats-data")
    nodes = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with LocalNatsCluster(directory, nodes) as cluster:
        print(f"nats cluster ready: {cluster.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
