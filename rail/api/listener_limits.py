"""The listener's limits, each a named constant: the defaults of ListenerLimits, which a Listener takes (tests
pass smaller ones). Why each is bounded: rail/api/listener.py."""

from __future__ import annotations

from dataclasses import dataclass

URL_BYTES_MAX = 8_190  # the request target; aiohttp's request-line limit
HEAD_BYTES_MAX = 16_384  # the target plus every header name and value
FIELD_BYTES_MAX = 8_192  # one header value (8 KiB: nginx bounds a header line so): a 9 KB "token" is refused
HEADER_COUNT_MAX = 64  # the rail's clients send fewer than ten
PIPELINE_REQUESTS_MAX = 16  # requests queued on one connection, the one being served included
# Bodies buffered for queued requests (the one being read may still reach its own route's limit).
QUEUED_BODY_BYTES_MAX = 1 << 20
# A refused request's announced body up to this is read and dropped, to keep the connection.
DISCARD_BODY_BYTES_MAX = 64 * 1024
CONNECTIONS_MAX = 2_048  # open connections; one more is answered 503 and closed
KEEP_ALIVE_TIMEOUT_S = 75.0  # an idle connection is closed after it (aiohttp's default)
REQUEST_READ_TIMEOUT_S = 15.0  # first byte to last byte of a request (and connect to first request): 408
WRITE_STALL_TIMEOUT_S = 60.0  # answers waiting for a client that does not read (nginx's send_timeout)
LINGER_S = 2.0  # after the last answer of a closing connection, wait this long for the client's close
LINGER_BYTES_MAX = 4 << 20  # bytes read and dropped once a connection stops reading requests
WRITE_BUFFER_HIGH_BYTES = 64 * 1024  # transport write buffer: above it no queued request is started
WRITE_BUFFER_LOW_BYTES = 16 * 1024
SHUTDOWN_GRACE_S = 2.0  # close(): requests in flight get this long to be answered

FEED_SLICE_BYTES = 8 * 1024  # see "read flow control" in rail/api/listener.py
LISTEN_BACKLOG = 1_024
SWEEP_EVERY_S_MAX = 1.0  # timeouts are checked by one sweep over all connections, not a timer per request


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    url_bytes_max: int = URL_BYTES_MAX
    head_bytes_max: int = HEAD_BYTES_MAX
    field_bytes_max: int = FIELD_BYTES_MAX
    header_count_max: int = HEADER_COUNT_MAX
    pipeline_requests_max: int = PIPELINE_REQUESTS_MAX
    queued_body_bytes_max: int = QUEUED_BODY_BYTES_MAX
    discard_body_bytes_max: int = DISCARD_BODY_BYTES_MAX
    connections_max: int = CONNECTIONS_MAX
    keep_alive_timeout_s: float = KEEP_ALIVE_TIMEOUT_S
    request_read_timeout_s: float = REQUEST_READ_TIMEOUT_S
    write_stall_timeout_s: float = WRITE_STALL_TIMEOUT_S
    linger_s: float = LINGER_S
    linger_bytes_max: int = LINGER_BYTES_MAX
    write_buffer_high_bytes: int = WRITE_BUFFER_HIGH_BYTES
    write_buffer_low_bytes: int = WRITE_BUFFER_LOW_BYTES

    def sweep_every_s(self) -> float:
        shortest_s = min(
            self.keep_alive_timeout_s, self.request_read_timeout_s, self.write_stall_timeout_s, self.linger_s
        )
        return max(0.01, min(SWEEP_EVERY_S_MAX, shortest_s / 4))


# Hop-by-hop and framing request headers: the transport's business, not handed to the application.
