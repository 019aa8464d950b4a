"""The settlement core's journal as a replicated NATS JetStream stream (`--journal nats://h1,h2,h3`).

Same interface as rail/settlement/journal.py's FileJournal (the `Journal` protocol), so the core does not know which one
it writes to. The mapping:

- a batch is published to one stream subject as the same frame FileJournal writes (rail.settlement.journal.encode_frame:
  header with checksums, sequence, then the msgpack payload; the chain field is 0, as the stream itself
  orders messages and fences writers), and the journal
  position of a batch IS its JetStream stream sequence (the frame repeats it, so replay checks both agree);
- `append` returns once JetStream has acknowledged the publish: with replicas=3 the stream's Raft group has
  stored it on a majority of nodes, so losing any one node loses nothing acknowledged (replicas=1 on a
  single server);
- every publish carries `Nats-Expected-Last-Sequence` = the last sequence this writer knows: a second writer
  (a stale core that lost its lease) is refused by the stream itself, whatever it believes. Every publish also
  carries `Nats-Msg-Id` = writer id + sequence, so a publish retried after a lost acknowledgement (a node
  died mid-request) is answered as a duplicate of the stored message instead of being written twice;
- a batch larger than the server's max_payload is split into consecutive messages (header `Rail-Part: i/n`);
  its position is the sequence of its last part. Parts are published one after another with the same
  expected-last-sequence fencing; a batch whose writer died between parts was never acknowledged, and
  replay drops it (it is followed by another batch's first part, or by nothing);
- snapshots go to a JetStream object store (chunked, replicated like the stream), in FileJournal's snapshot
  format (rail.settlement.journal.encode_snapshot); messages older than SNAPSHOT_KEEP_MESSAGES before the
  newest snapshot are purged, so the stream stays bounded while a slow follower keeps some slack.

The nats-py client is asyncio; the Journal protocol also has synchronous calls (replay, snapshots,
append_blocking at start-up). So the connection lives on its own event loop in one dedicated thread; the
core's loop hands each append over with run_coroutine_threadsafe (one hop per batch, not per payment).
That thread also keeps the failover lease (rail/cluster/failover.py) renewed while the core's loop is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any, Self
from urllib.parse import urlsplit

from rail.settlement.journal_format import (
    FRAME_HEADER,
    JournalCorruption,
    JournalError,
    PayloadCodec,
    decode_snapshot,
    encode_frame,
    encode_snapshot,
    frame_at,
)

log = logging.getLogger(__name__)

NATS_DEFAULT_PORT = 4222
JOURNAL_NAME_DEFAULT = "RAIL"
#: Opening (connect + stream/bucket setup) gives up after this long with a clear error.
OPEN_TIMEOUT_S = 3.0
#: One publish attempt waits this long for JetStream's acknowledgement (a Raft commit on a majority).
PUBLISH_ATTEMPT_TIMEOUT_S = 2.0
#: A batch is retried (same Nats-Msg-Id: deduplicated) for this long in total, long enough for a new stream
#: leader to be elected after a node dies; then append fails and the core stops without answering anyone.
APPEND_TIMEOUT_S = 20.0
#: Pause between publish attempts while the cluster elects a leader or the client reconnects.
PUBLISH_RETRY_PAUSE_S = 0.1
#: Stream messages kept behind the newest snapshot so that a lagging standby need not resynchronise.
SNAPSHOT_KEEP_MESSAGES = 100_000
#: How long reading the snapshot keeps retrying while the cluster elects a leader.
SNAPSHOT_READ_RETRY_S = 10.0
#: Messages moved from the NATS thread to the reader per hand-over during replay/follow.
READ_CHUNK_MESSAGES_MAX = 4_096
#: A replay that receives nothing for this long while the stream holds more is an error, not a hang.
READ_IDLE_TIMEOUT_S = 10.0
#: JetStream deduplicates a re-published Nats-Msg-Id within this window (covers the retry span).
DUPLICATE_WINDOW_S = 120.0
#: Room left in max_payload for the frame header and NATS headers when splitting a batch.
PART_OVERHEAD_BYTES = 1_024
#: A batch may be split into at most this many messages (one 128 MB frame at 1 MB max_payload).
PARTS_PER_BATCH_MAX = 256
SNAPSHOT_OBJECT = "settlement"
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PART_HEADER = "Rail-Part"
_LEASE_HEADER = "Rail-Lease"
_WRONG_LAST_SEQUENCE = 10071  # JetStream API error code: Nats-Expected-Last-Sequence did not match


class JournalUnavailable(JournalError):
    """The NATS cluster named by the URL cannot be reached or used."""


class JournalFenced(JournalError):
    """Another writer has appended to the stream (or this core lost its lease): this core must stop."""


def parse_nats_url(url: str) -> tuple[list[str], str]:
    """`nats://h1[:p],h2[:p]/NAME` -> (["nats://h1:p", ...], NAME). Raises ValueError with what to type."""
    usage = "expected nats://HOST[:PORT][,HOST[:PORT]...][/NAME], e.g. nats://10.0.0.1,10.0.0.2,10.0.0.3"
    if not isinstance(url, str) or not url.startswith("nats://"):
        raise ValueError(f"journal URL {url!r} is not a NATS URL: {usage}")
    items = [item.strip().removeprefix("nats://") for item in url.split(",")]
    items[-1], _, name = items[-1].partition("/")
    name = name.strip("/") or JOURNAL_NAME_DEFAULT
    if not _NAME_RE.match(name):
        raise ValueError(f"journal name {name!r} in {url!r}: use 1-32 letters, digits, '_' or '-'")
    servers = []
    for item in items:
        if not item:
            raise ValueError(f"journal URL {url!r} has an empty host: {usage}")
        try:
            parts = urlsplit(f"nats://{item}")
            port = parts.port or NATS_DEFAULT_PORT
        except ValueError:
            raise ValueError(f"journal URL {url!r}: bad host:port {item!r}: {usage}") from None
        if not parts.hostname:
            raise ValueError(f"journal URL {url!r}: bad host:port {item!r}: {usage}")
        servers.append(f"nats://{parts.hostname}:{port}")
    return servers, name


class NatsConnection:
    """One nats-py connection on its own event loop thread; shared by the journal and the lease."""

    def __init__(self, servers: list[str], open_timeout_s: float = OPEN_TIMEOUT_S) -> None:
        self.servers = servers
        self.open_timeout_s = open_timeout_s
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="nats-journal", daemon=True)
        self._thread.start()
        self.nc: Any = None
        self.js: Any = None
        self.last_error: BaseException | None = None

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coroutine: Awaitable) -> Future:
        """Schedule a coroutine on the NATS thread (from any thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, coroutine: Awaitable, timeout_s: float | None = None) -> Any:
        """Run a coroutine on the NATS thread and wait for its result (never from the NATS thread itself)."""
        assert threading.current_thread() is not self._thread, "call() would deadlock on the NATS thread"
        return self.submit(coroutine).result(timeout_s)

    async def connect(self) -> None:
        import nats

        async def on_error(error: BaseException) -> None:
            self.last_error = error  # reconnects are routine (a node died): log quietly, keep the cause

            log.debug("nats: %r", error)

        async def on_disconnected() -> None:
            log.info("nats: disconnected, reconnecting")

        try:
            self.nc = await asyncio.wait_for(
                nats.connect(
                    self.servers,
                    error_cb=on_error,
                    disconnected_cb=on_disconnected,
                    connect_timeout=1,
                    reconnect_time_wait=0.2,
                    max_reconnect_attempts=-1,  # after the first connection: always find another node
                    dont_randomize=False,
                ),
                self.open_timeout_s,
            )
        except Exception as error:  # noqa: BLE001 - any cause is reported in one clear line
            cause = self.last_error or error
            raise JournalUnavailable(
                f"cannot reach NATS at {','.join(self.servers)} within {self.open_timeout_s:g} s "
                f"({type(cause).__name__}: {cause}); check the URL and that nats-server runs with -js"
            ) from None
        self.js = self.nc.jetstream(timeout=PUBLISH_ATTEMPT_TIMEOUT_S)

    def close(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):
                self.call(self.nc.close(), timeout_s=5)
            self.nc = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


async def retry_api(call: Callable[[], Awaitable], what: str, timeout_s: float = APPEND_TIMEOUT_S) -> Any:
    """A JetStream API call retried while the cluster elects a (meta or stream) leader after a node died."""
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.errors import APIError, ServiceUnavailableError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await call()
        except (NatsTimeout, TimeoutError, NoRespondersError, ServiceUnavailableError) as error:
            failure = error
        except APIError as error:
            if error.code not in (503, 500, None):
                raise
            failure = error
        if time.monotonic() >= deadline:
            raise JournalUnavailable(
                f"{what}: no answer from JetStream within {timeout_s:.0f} s ({failure!r}); "
                "is a majority of the NATS cluster up?"
            ) from None
        await asyncio.sleep(PUBLISH_RETRY_PAUSE_S)


class NatsJournal:
    """A `Journal` on a JetStream stream. Create with `NatsJournal.open("nats://h1,h2,h3/NAME")`."""

    def __init__(self, connection: NatsConnection, name: str, record_type: Any, replicas: int) -> None:
        self.connection = connection
        self.name = name
        self.stream = f"{name}_JOURNAL"
        self.subject = f"rail.{name}.journal"
        self.snapshot_bucket = f"{name}_SNAPSHOTS"
        self.replicas = replicas
        self.writer_id = uuid.uuid4().hex[:12]
        self._codec = PayloadCodec(list if record_type is None else list[record_type])
        self._last_seq = 0  # the stream's last sequence as this writer knows it
        self._snapshot_seq = 0
        self._objects: Any = None
        self._append_lock: asyncio.Lock | None = None
        self._max_part_bytes = 0
        self._failure: BaseException | None = None
        self._closed = False
        #: Set by the failover lease (rail/cluster/failover.py): awaited on the NATS thread before every publish;
        #: waits while the lease is unconfirmed, raises JournalFenced once it may have passed to another core.
        self.write_guard: Callable[[], Awaitable[None]] | None = None
        #: Coroutine functions run on the NATS thread by close() before disconnecting (lease release).
        self.close_hooks: list[Callable[[], Awaitable]] = []
        #: Position of the last complete batch the last full replay() read (a follower continues after it).
        self.replayed_up_to = 0
        self.lease_revision = 0  # stamped on every batch (header Rail-Lease) for the audit trail
        self.batches_appended = 0

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        url: str,
        *,
        record_type: Any = None,
        replicas: int | None = None,
        connection: NatsConnection | None = None,
        open_timeout_s: float = OPEN_TIMEOUT_S,
    ) -> NatsJournal:
        """Connect, create the stream and the snapshot bucket if absent, and learn the stream's end.

        `replicas=None`: 3 on a cluster, 1 on a single server. Raises ValueError for a malformed URL and
        JournalUnavailable when the cluster cannot be reached or has no JetStream.
        """
        servers, name = parse_nats_url(url)
        own_connection = connection is None
        if connection is None:
            connection = NatsConnection(servers, open_timeout_s)
        journal = cls(connection, name, record_type, replicas or 0)
        try:
            connection.call(journal._setup(replicas), timeout_s=open_timeout_s * 3)
        except BaseException as error:
            if own_connection:
                connection.close()
            if isinstance(error, (JournalError, ValueError)) or not isinstance(error, Exception):
                raise
            # Anything else from the client or the cluster: still one line saying what failed.
            raise JournalUnavailable(
                f"cannot use NATS JetStream at {','.join(servers)}: {type(error).__name__}: {error}"
            ) from None
        journal._owns_connection = own_connection
        return journal

    async def _setup(self, replicas: int | None) -> None:
        from nats.js import api
        from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

        connection = self.connection
        if connection.nc is None:
            await connection.connect()
        js = connection.js
        self._append_lock = asyncio.Lock()
        self._max_part_bytes = connection.nc.max_payload - PART_OVERHEAD_BYTES - FRAME_HEADER.size
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            info = None
        except (ServiceUnavailableError, TimeoutError, APIError) as error:
            raise JournalUnavailable(
                f"NATS at {','.join(connection.servers)} answers but JetStream does not "
                f"({type(error).__name__}); "
                "start nats-server with -js (and a cluster with a majority of its nodes up)"
            ) from None
        if info is None:
            info = await self._create_stream(api, APIError, replicas)
        self.replicas = info.config.num_replicas or 1
        if info.config.subjects != [self.subject]:
            raise JournalError(
                f"stream {self.stream} exists with subjects {info.config.subjects}, not [{self.subject}]"
            )
        self._last_seq = info.state.last_seq
        try:
            self._objects = await js.object_store(self.snapshot_bucket)
        except NotFoundError:
            self._objects = await js.create_object_store(
                bucket=self.snapshot_bucket, replicas=self.replicas, description="rail snapshots"
            )
        self._snapshot_seq = await self._snapshot_seq_stored()

    async def _create_stream(self, api: Any, api_error: type, replicas: int | None) -> Any:
        js = self.connection.js
        for candidate in [replicas] if replicas else [3, 1]:
            config = api.StreamConfig(
                name=self.stream,
                subjects=[self.subject],
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS,
                discard=api.DiscardPolicy.NEW,
                num_replicas=candidate,
                duplicate_window=DUPLICATE_WINDOW_S,
                deny_delete=True,  # batches leave the stream only by purge behind a snapshot
            )
            try:
                return await js.add_stream(config)
            except api_error as error:
                # A single server (not clustered) refuses replicas > 1: fall back to 1 when not told.
                if replicas is None and candidate > 1 and "replicas" in str(error).lower():
                    continue
                raise JournalUnavailable(f"cannot create stream {self.stream}: {error}") from None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ appending

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def durable_seq(self) -> int:
        return self._last_seq

    @property
    def snapshot_seq(self) -> int:
        return self._snapshot_seq

    async def append(self, records: list) -> int:
        """Publish one batch; returns its position once JetStream acknowledged it (replicated)."""
        payload = self._encode(records)
        return await asyncio.wrap_future(self.connection.submit(self._publish_batch(payload)))

    def append_blocking(self, records: list) -> int:
        payload = self._encode(records)
        return self.connection.call(self._publish_batch(payload))

    def _encode(self, records: list) -> bytes:
        if self._closed:
            raise JournalError("journal is closed")
        if self._failure is not None:
            raise JournalError(f"journal failed earlier and must be reopened: {self._failure!r}")
        if not isinstance(records, list):
            raise JournalError(f"a batch is a list of records, not {type(records).__name__}")
        payload = self._codec.encode(records)
        parts = -(-len(payload) // self._max_part_bytes)
        if parts > PARTS_PER_BATCH_MAX:
            raise JournalError(
                f"batch of {len(payload)} bytes needs {parts} messages; PARTS_PER_BATCH_MAX={PARTS_PER_BATCH_MAX}"
            )
        return payload

    async def _publish_batch(self, payload: bytes) -> int:
        async with self._append_lock:
            if self._failure is not None:
                raise JournalError(f"journal failed earlier and must be reopened: {self._failure!r}")
            try:
                size = self._max_part_bytes
                chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
                for index, chunk in enumerate(chunks):
                    await self._publish_part(chunk, index, len(chunks))
            except BaseException as error:
                self._failure = error
                raise
            self.batches_appended += 1
            return self._last_seq

    async def _publish_part(self, chunk: bytes, index: int, count: int) -> None:
        from nats.errors import ConnectionClosedError, NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import APIError, NoStreamResponseError

        if self.write_guard is not None:
            await self.write_guard()  # a core whose lease may have passed to another stops before writing
        expected = self._last_seq
        seq = expected + 1
        headers = {
            "Nats-Expected-Last-Sequence": str(expected),
            "Nats-Msg-Id": f"{self.writer_id}-{seq}",
            _PART_HEADER: f"{index + 1}/{count}",
        }
        if self.lease_revision:
            headers[_LEASE_HEADER] = str(self.lease_revision)
        frame = encode_frame(seq, chunk)
        deadline = time.monotonic() + APPEND_TIMEOUT_S
        while True:
            try:
                ack = await self.connection.js.publish(
                    self.subject, frame, timeout=PUBLISH_ATTEMPT_TIMEOUT_S, headers=dict(headers)
                )
                break
            except APIError as error:
                if error.err_code == _WRONG_LAST_SEQUENCE:
                    raise JournalFenced(
                        f"stream {self.stream} moved past batch {expected} under this core: another core "
                        f"is writing ({error.description}); this core stops"
                    ) from None
                if error.code in (503, None) and time.monotonic() < deadline:
                    await asyncio.sleep(PUBLISH_RETRY_PAUSE_S)  # no stream leader yet: election running
                    continue
                raise JournalUnavailable(f"JetStream refused batch {seq}: {error}") from None
            except (
                NatsTimeout,
                TimeoutError,
                NoRespondersError,
                NoStreamResponseError,
                ConnectionClosedError,
            ):
                if time.monotonic() >= deadline:
                    raise JournalUnavailable(
                        f"no JetStream acknowledgement for batch {seq} within {APPEND_TIMEOUT_S:.0f} s: "
                        "is a majority of the NATS cluster up?"
                    ) from None
                await asyncio.sleep(PUBLISH_RETRY_PAUSE_S)
                if self.write_guard is not None:
                    await self.write_guard()
        if ack.seq != seq:
            raise JournalFenced(f"stream {self.stream} stored batch part at {ack.seq}, expected {seq}")
        self._last_seq = seq

    # ------------------------------------------------------------------ reading

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, list]]:
        """Every complete batch with position > after_seq, up to the stream's end when called."""
        reader = StreamReader(self, after_seq)
        try:
            end_seq = self.connection.call(reader.start())
            while reader.position < end_seq:
                batches = self.connection.call(reader.read(end_seq))
                if not batches and reader.position < end_seq:
                    raise JournalError(
                        f"replay of stream {self.stream} stalled at {reader.position} of {end_seq}"
                    )
                yield from self.decode_batches(batches)
            # The last complete batch, not the last message: a batch still being published in parts when
            # replay reached the stream's end is read whole by whoever continues from here.
            self.replayed_up_to = reader.batch_end
        finally:
            self.connection.call(reader.stop())

    def decode_batches(self, batches: list[tuple[int, bytes]]) -> Iterator[tuple[int, list]]:
        decode = self._codec.decode
        for seq, payload in batches:
            yield seq, decode(payload)

    # ------------------------------------------------------------------ snapshots

    async def _snapshot_seq_stored(self) -> int:
        from nats.js.errors import NotFoundError, ObjectNotFoundError

        try:
            info = await self._objects.get_info(SNAPSHOT_OBJECT)
        except (ObjectNotFoundError, NotFoundError):
            return 0
        description = info.description or ""
        return int(description) if description.isdigit() else 0

    def write_snapshot(self, state: bytes, seq: int) -> None:
        self.connection.call(self._write_snapshot(state, seq))

    async def snapshot_async(self, state: bytes, seq: int) -> None:
        await asyncio.wrap_future(self.connection.submit(self._write_snapshot(state, seq)))

    def start_snapshot(self, encode_state: Callable[[], bytes], seq: int) -> asyncio.Future[None]:
        """Encoded now, on the caller's loop (a forked child could not use this process's NATS connection),
        then stored by the connection's thread while the caller goes on."""
        return asyncio.ensure_future(self.snapshot_async(encode_state(), seq))

    async def _write_snapshot(self, state: bytes, seq: int) -> None:
        from nats.js import api

        if seq > self._last_seq:
            raise JournalError(f"snapshot at {seq}, but only batches up to {self._last_seq} are durable")
        if self.write_guard is not None:
            try:
                await self.write_guard()
            except JournalFenced as error:
                # A core that lost the lead must not overwrite its successor's snapshot; skipping one only
                # makes a later recovery replay more.
                log.warning("snapshot at %d skipped: %s", seq, error)
                return
        meta = api.ObjectMeta(name=SNAPSHOT_OBJECT, description=str(seq))
        await self._objects.put(SNAPSHOT_OBJECT, encode_snapshot(state, seq), meta=meta)
        self._snapshot_seq = max(self._snapshot_seq, seq)
        keep_from = self._snapshot_seq + 1 - SNAPSHOT_KEEP_MESSAGES
        if keep_from > 1:
            # Everything before keep_from is covered by the snapshot; keep a margin for slow followers.
            await self.connection.js.purge_stream(self.stream, seq=keep_from)

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        return self.connection.call(self._read_snapshot())

    async def _read_snapshot(self) -> tuple[int, bytes] | None:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.errors import NotFoundError, ObjectNotFoundError

        # A cluster electing a new meta leader (a node just died or rejoined) answers nothing for a few
        # seconds: a recovering core waits that out instead of failing its start.
        deadline_s = time.monotonic() + SNAPSHOT_READ_RETRY_S
        while True:
            try:
                result = await self._objects.get(SNAPSHOT_OBJECT)
                break
            except (ObjectNotFoundError, NotFoundError):
                return None
            except NatsTimeout:
                if time.monotonic() > deadline_s:
                    raise
                await asyncio.sleep(0.2)
        snapshot = decode_snapshot(result.data, f"{self.snapshot_bucket}/{SNAPSHOT_OBJECT}")
        self._snapshot_seq = max(self._snapshot_seq, snapshot.seq)
        return snapshot.seq, snapshot.state

    # ------------------------------------------------------------------ stream facts (tests, failover)

    def stream_last_seq(self) -> int:
        """The stream's last sequence as the cluster reports it now (may be ahead of this writer's)."""
        return self.connection.call(self._stream_last_seq())

    async def _stream_last_seq(self) -> int:
        info = await retry_api(lambda: self.connection.js.stream_info(self.stream), "stream info")
        return info.state.last_seq

    def adopt_stream_end(self, seq: int) -> None:
        """Continue appending after `seq` (a standby that has read the stream up to it and now writes)."""
        self._last_seq = seq
        self._failure = None

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for hook in self.close_hooks:
            with contextlib.suppress(Exception):
                self.connection.call(hook(), timeout_s=OPEN_TIMEOUT_S)
        self.close_hooks.clear()
        if getattr(self, "_owns_connection", True):
            self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class StreamReader:
    """Reads complete batches from the stream in order, starting after a position; used by replay and by
    the standby that follows the stream live. Its coroutines run on the NATS thread."""

    def __init__(self, journal: NatsJournal, after_seq: int) -> None:
        self.journal = journal
        self.position = after_seq  # last stream sequence consumed (complete batch or torn parts)
        self.batch_end = after_seq  # position of the last complete batch handed out
        self._sub: Any = None
        self._parts: list[bytes] = []
        self._parts_expected = 0

    async def start(self) -> int:
        """Subscribe from position + 1; returns the stream's last sequence at this moment."""

        js = self.journal.connection.js
        info = await retry_api(lambda: js.stream_info(self.journal.stream), "replay")
        first_seq = info.state.first_seq
        if self.position + 1 < first_seq and info.state.messages:
            raise JournalCorruption(
                f"stream {self.journal.stream}",
                self.position,
                f"batches {self.position + 1}..{first_seq - 1} were purged; start from a newer snapshot",
            )
        if info.state.last_seq > self.position:
            await self.follow()
        return info.state.last_seq

    async def follow(self) -> None:
        """Subscribe from position + 1 even if nothing is there yet (the standby waits for new batches)."""
        from nats.js import api

        js = self.journal.connection.js
        self._sub = await retry_api(
            lambda: js.subscribe(
                self.journal.subject,
                stream=self.journal.stream,
                ordered_consumer=True,
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                config=api.ConsumerConfig(opt_start_seq=self.position + 1),
                pending_msgs_limit=READ_CHUNK_MESSAGES_MAX * 4,
            ),
            "subscribe to the journal stream",
        )

    async def read(self, end_seq: int | None, idle_timeout_s: float = READ_IDLE_TIMEOUT_S) -> list:
        """Up to READ_CHUNK_MESSAGES_MAX messages -> complete (position, payload) batches, in order.

        end_seq: stop there (replay); None: return what has arrived, waiting up to idle_timeout_s for the
        first message (follow).
        """
        from nats.errors import TimeoutError as NatsTimeout

        batches: list[tuple[int, bytes]] = []
        if self._sub is None:
            return batches
        for count in range(READ_CHUNK_MESSAGES_MAX):
            if end_seq is not None and self.position >= end_seq:
                break
            timeout = idle_timeout_s if count == 0 else (idle_timeout_s if end_seq is not None else 0.001)
            try:
                msg = await self._sub.next_msg(timeout=timeout)
            except (NatsTimeout, TimeoutError):
                break
            self._take(msg, batches)
        return batches

    def _take(self, msg: Any, batches: list) -> None:
        seq = msg.metadata.sequence.stream
        if seq != self.position + 1:
            raise JournalCorruption(
                f"stream {self.journal.stream}", seq, f"expected message {self.position + 1}, got {seq}"
            )
        data = msg.data
        frame = frame_at(data, 0)
        if frame is None or frame[0] != seq or frame[1] != len(data):
            raise JournalCorruption(
                f"stream {self.journal.stream}", seq, "frame fails its length/CRC/sequence check"
            )
        part, _, count = (msg.headers or {}).get(_PART_HEADER, "1/1").partition("/")
        part_index, part_count = int(part), int(count)
        if part_index == 1:
            # A new batch: parts of an unfinished one before it belong to a writer that died mid-batch
            # (never acknowledged): dropped.
            self._parts = []
            self._parts_expected = part_count
        elif part_count != self._parts_expected or part_index != len(self._parts) + 1:
            self._parts = []  # the tail of a batch whose start was dropped: drop it too
            self._parts_expected = 0
            self.position = seq
            return
        self._parts.append(memoryview(data)[FRAME_HEADER.size :])
        self.position = seq
        if part_index == part_count:
            payload = self._parts[0] if part_count == 1 else b"".join(self._parts)
            batches.append((seq, payload))
            self.batch_end = seq
            self._parts = []
            self._parts_expected = 0

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
