"""The replicated journal (rail/cluster/nats_journal.py) on a real 3-node NATS JetStream cluster on loopback.

Skipped, with the reason, only when nats-server is not installed (Debian package `nats-server`; .ci/run
installs it).
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time

import pytest

from rail.cluster.failover import LeaderLease
from rail.cluster.nats_journal import (
    JournalFenced,
    JournalUnavailable,
    NatsJournal,
    StreamReader,
    parse_nats_url,
)
from rail.cluster.nats_local import LocalNatsCluster, free_port, nats_server_path
from rail.settlement.journal_format import JournalError

pytestmark = pytest.mark.skipif(
    nats_server_path() is None, reason="nats-server is not installed (apt-get install nats-server)"
)

_names = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with LocalNatsCluster(tmp_path_factory.mktemp("nats"), nodes=3) as running:
        running.wait_jetstream_ready()
        yield running
    # every node is stopped by the context manager, even after a failed test


def journal_url(cluster: LocalNatsCluster) -> str:
    """A fresh journal name per test: each gets its own stream and buckets."""
    return f"{cluster.url}/T{next(_names)}"


def _batch(index: int, size: int = 3) -> list:
    # The core's shape: a timestamp, then msgpack-encoded commands (bytes); u128 values go the JSON way.
    return [1_700_000_000_000_000_000 + index] + [f"cmd-{index}-{k}".encode() for k in range(size)]


async def test_append_replay_round_trip_uses_stream_sequence_and_replicas_3(cluster):
    url = journal_url(cluster)
    journal = NatsJournal.open(url)
    try:
        assert journal.replicas == 3
        seqs = [await journal.append(_batch(i)) for i in range(50)]
        assert seqs == list(range(1, 51))
        assert journal.append_blocking(_batch(50)) == 51
        assert journal.stream_last_seq() == 51
    finally:
        journal.close()
    reopened = NatsJournal.open(url)
    try:
        assert reopened.last_seq == 51
        replayed = list(reopened.replay(0))
        assert [seq for seq, _ in replayed] == list(range(1, 52))
        assert replayed[7][1] == _batch(7)
        assert [seq for seq, _ in reopened.replay(40)] == list(range(41, 52))
        assert await reopened.append(_batch(51)) == 52
    finally:
        reopened.close()


async def test_u128_records_and_big_batches_split_below_max_payload(cluster):
    journal = NatsJournal.open(journal_url(cluster))
    try:
        big = [1, b"x" * 2_500_000]  # 2.5 MB: three messages at the 1 MB max_payload
        seq = await journal.append(big)
        small = await journal.append([2**100, "u128 goes the JSON way, as in FileJournal"])
        assert small == seq + 1
        assert seq >= 3, "a 2.5 MB batch must span several stream messages"
        assert list(journal.replay(0)) == [
            (seq, big),
            (small, [2**100, "u128 goes the JSON way, as in FileJournal"]),
        ]
    finally:
        journal.close()


async def test_second_writer_is_fenced_by_expected_last_sequence(cluster):
    url = journal_url(cluster)
    first = NatsJournal.open(url)
    second = NatsJournal.open(url)
    try:
        assert await first.append(_batch(1)) == 1
        with pytest.raises(JournalFenced, match="another core"):
            await second.append(_batch(2))  # believes the stream ends at 0
        assert await first.append(_batch(3)) == 2
        with pytest.raises(JournalError):
            await second.append(_batch(4))  # a fenced journal stays failed
        assert [seq for seq, _ in first.replay(0)] == [1, 2]
    finally:
        first.close()
        second.close()


async def test_snapshot_round_trip_in_object_store(cluster):
    url = journal_url(cluster)
    journal = NatsJournal.open(url)
    try:
        assert journal.latest_snapshot() is None
        for i in range(5):
            await journal.append(_batch(i))
        state = b"S" * 400_000  # several object-store chunks
        await journal.snapshot_async(state, 4)
        assert journal.snapshot_seq == 4
        with pytest.raises(JournalError, match="durable"):
            journal.write_snapshot(b"ahead", 99)
    finally:
        journal.close()
    reopened = NatsJournal.open(url)
    try:
        assert reopened.snapshot_seq == 4
        assert reopened.latest_snapshot() == (4, state)
        assert [seq for seq, _ in reopened.replay(4)] == [5]
    finally:
        reopened.close()


@pytest.mark.slow
async def test_kill_a_node_under_load_loses_no_acknowledged_batch(cluster):
    url = journal_url(cluster)
    journal = NatsJournal.open(url)
    acknowledged: dict[int, list] = {}
    counter = itertools.count()
    killed = 0
    try:

        async def writer(count: int) -> None:
            for _ in range(count):
                records = _batch(next(counter))
                acknowledged[await journal.append(records)] = records

        # The writer holds the failover lease, as a serving core does: losing the node that leads the lease
        # bucket (the worst case) pauses its writes during the election, it must not stop them.
        lease = LeaderLease(journal)
        await asyncio.get_running_loop().run_in_executor(None, lease.acquire_blocking)
        await writer(100)
        killed = await asyncio.wrap_future(journal.connection.submit(_leader_index(journal, lease.bucket)))
        load = asyncio.create_task(writer(400))
        await asyncio.sleep(0.1)
        cluster.kill(killed)  # under load: batches are in flight while the node dies
        started = time.monotonic()
        await asyncio.wait_for(load, 30)
        stalled_s = time.monotonic() - started
        assert len(acknowledged) == 500
        before = len(acknowledged)
        await writer(50)  # appends continue with two nodes of three
        assert len(acknowledged) == before + 50
        assert dict(journal.replay(0)) == acknowledged
        assert stalled_s < 25
        assert not lease.lost
    finally:
        journal.close()
        cluster.start(killed)
    cluster.wait_jetstream_ready()


async def _leader_index(journal: NatsJournal, bucket: str) -> int:
    info = await journal.connection.js.stream_info(f"KV_{bucket}")
    return int(info.cluster.leader.removeprefix("n")) - 1


@pytest.mark.slow
async def test_stopped_node_catches_up_after_restart(cluster):
    url = journal_url(cluster)
    journal = NatsJournal.open(url)
    acknowledged: dict[int, list] = {}
    try:
        for i in range(10):
            acknowledged[await journal.append(_batch(i))] = _batch(i)
        cluster.kill(2)  # partitioned away while the stream moves on
        for i in range(10, 40):
            acknowledged[await journal.append(_batch(i))] = _batch(i)
        cluster.start(2)
        await _wait_replica_current(journal, cluster.nodes[2].name)
        # Healed: node 3 now holds the stream, so it can form the quorum without node 1.
        cluster.kill(0)
        for i in range(40, 50):
            acknowledged[await journal.append(_batch(i))] = _batch(i)
        assert dict(journal.replay(0)) == acknowledged
    finally:
        journal.close()
        cluster.start(0)
    cluster.wait_jetstream_ready()


async def _wait_replica_current(journal: NatsJournal, node_name: str, timeout_s: float = 20) -> None:
    async def replica_lag() -> int | None:
        info = await journal.connection.js.stream_info(journal.stream)
        for replica in (info.cluster.replicas or []) if info.cluster else []:
            if replica.name == node_name:
                return (replica.lag or 0) if replica.current else None  # lag 0 is omitted
        if info.cluster and info.cluster.leader == node_name:
            return 0
        return None

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lag = await asyncio.wrap_future(journal.connection.submit(replica_lag()))
        if lag == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"replica {node_name} did not catch up within {timeout_s} s")


def test_malformed_url_gives_one_clear_line():
    with pytest.raises(ValueError, match="expected nats://HOST"):
        parse_nats_url("http://127.0.0.1:4222")
    with pytest.raises(ValueError, match="empty host"):
        parse_nats_url("nats://a,,b")
    with pytest.raises(ValueError, match="journal name"):
        parse_nats_url("nats://a/bad name!")
    assert parse_nats_url("nats://a,b:5000,nats://c/X") == (
        ["nats://a:4222", "nats://b:5000", "nats://c:4222"],
        "X",
    )


def test_unreachable_nats_gives_a_clear_error_quickly():
    started = time.monotonic()
    with pytest.raises(JournalUnavailable, match="cannot reach NATS .* check the URL"):
        NatsJournal.open(f"nats://127.0.0.1:{free_port()},127.0.0.1:{free_port()}", open_timeout_s=1)
    assert time.monotonic() - started < 5


async def test_a_batch_caught_mid_publication_is_read_whole_and_a_torn_one_is_dropped(cluster):
    journal = NatsJournal.open(journal_url(cluster))
    call = journal.connection.call
    try:
        assert await journal.append([1, b"first"]) == 1
        # A writer mid-way through a 3-part batch: replay reaches the stream's end inside it.
        payload = journal._codec.encode([2, b"y" * 3_000])  # as append encodes it
        parts = [payload[:1000], payload[1000:2000], payload[2000:]]
        call(journal._publish_part(parts[0], 0, 3))
        call(journal._publish_part(parts[1], 1, 3))
        assert [seq for seq, _ in journal.replay(0)] == [1]
        assert journal.replayed_up_to == 1  # a follower continues from the last whole batch...
        call(journal._publish_part(parts[2], 2, 3))
        reader = StreamReader(journal, journal.replayed_up_to)
        call(reader.follow())
        batches = call(reader.read(None, idle_timeout_s=2))
        assert list(journal.decode_batches(batches)) == [(4, [2, b"y" * 3_000])]  # ...and reads it whole
        call(reader.stop())
        # A writer that died between parts: its batch was never acknowledged and is skipped.
        torn = journal._codec.encode([3, b"z" * 2_000])
        call(journal._publish_part(torn[:1000], 0, 2))
        assert await journal.append([4, b"after the torn batch"]) == 6
        assert [(seq, records[0]) for seq, records in journal.replay(0)] == [(1, 1), (4, 2), (6, 4)]
    finally:
        journal.close()


def test_a_nats_server_without_jetstream_gives_a_clear_error(tmp_path):
    port = free_port()
    plain = subprocess.Popen(
        [nats_server_path(), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with pytest.raises(
            JournalUnavailable, match="answers but JetStream does not.*start nats-server with -js"
        ):
            NatsJournal.open(f"nats://127.0.0.1:{port}", open_timeout_s=2)
    finally:
        plain.terminate()
        plain.wait(timeout=5)
