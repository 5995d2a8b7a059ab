"""The broker connection's socket I/O: frames read from a buffer, several frames in one write.

py-amqp reads a frame in three exact-size reads (its 7-byte header, its payload, its end octet),
each a ``recv`` of just those bytes: a message (method, header and body frames) cost nine system
calls, each with its green-thread round trip, and a burst of deliveries or confirmations as many
again per message. Writes are one ``sendall`` per frame group, so a batch of N messages is N
system calls, and a send on loopback does the receiver's TCP work too (~40 us measured by py-spy
in the tickets service, bench/RESULTS.md, stop 26).

:class:`BufferedTCPTransport` (installed by :func:`install`, which the chassis package does on
import) promises:

- **The same frames, fewer reads.** A read asks the socket for up to :data:`READ_CHUNK` bytes and
  keeps what follows the frame for the next ones; a frame already in the buffer is returned
  without a system call. What py-amqp's ``read_frame`` returns and raises is unchanged:
  ``(type, channel, payload)`` as bytes, ``UnexpectedFrame`` for a bad frame-end octet, the
  socket's timeout or error as it was raised.
- **Nothing is lost to a timeout.** Bytes are consumed only once a whole frame is in the buffer,
  so a read that times out halfway through a frame (``drain_events(timeout=...)``) leaves every
  byte received so far for the next read, as py-amqp's own restore does.
- **A corked write is one write.** Inside :func:`corked`, frames the transport is asked to write
  are kept and written together, in order, in one ``sendall`` when the block ends (and not at
  all if it raises before then: the caller treats the messages as not sent, as after a failed
  write). Only the green thread that corked writes on that transport meanwhile: a batch's
  publishes are made by the one thread that holds the connection.

SSL connections keep py-amqp's own transport.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from struct import unpack_from
from typing import Any

import amqp.transport
from amqp.exceptions import UnexpectedFrame

READ_CHUNK = 65536
"""The most a read takes from the socket at once (it returns what has arrived, up to this)."""
_HEADER = 7
_FRAME_END = 206
_RETRY_ERRNOS = (errno.EAGAIN, errno.EINTR)
_UNAVAILABLE = amqp.transport._UNAVAIL


class BufferedTCPTransport(amqp.transport.TCPTransport):
    """py-amqp's TCP transport with buffered frame reads and corked writes (the module docstring)."""

    _read_buffer: bytes
    _read_pos = 0
    _cork: list[bytes] | None = None

    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._read_pos = 0
        self._cork = None

    def _receive(self, wanted: int, initial: bool) -> None:
        """Receive once (up to :data:`READ_CHUNK` bytes, at least enough for ``wanted`` if it is more)
        and append it to the buffer. The buffer is read again after the receive returns: another
        green thread may have read from this connection meanwhile (py-amqp's ``basic_publish``
        drains a connection with ``timeout=0`` while its consuming loop waits on it)."""
        try:
            data = self._quick_recv(max(READ_CHUNK, wanted))
        except OSError as exc:
            if exc.errno in _RETRY_ERRNOS:
                if initial and self.raise_on_initial_eintr:
                    raise TimeoutError() from exc
                return
            raise
        if not data:
            raise OSError("Server unexpectedly closed connection")
        buf, pos = self._read_buffer, self._read_pos
        self._read_buffer, self._read_pos = (buf[pos:] + data if pos < len(buf) else data), 0

    def _read(self, n: int, initial: bool = False) -> bytes:
        """Exactly ``n`` bytes (kept for py-amqp's callers; frames are read by :meth:`read_frame`)."""
        while len(self._read_buffer) - self._read_pos < n:
            self._receive(n - (len(self._read_buffer) - self._read_pos), initial)
        pos = self._read_pos
        self._read_pos = pos + n
        return self._read_buffer[pos : pos + n]

    def read_frame(self, unpack: Any = None) -> tuple[int, int, bytes]:
        """The next whole frame. Its header is parsed again after every receive (a frame is taken
        from the buffer by whichever green thread finds it whole), and nothing is consumed until
        it is whole, so a timeout or error leaves the buffer as it was plus what arrived."""
        try:
            while True:
                buf, pos = self._read_buffer, self._read_pos
                have = len(buf) - pos
                if have >= _HEADER:
                    frame_type, channel, size = unpack_from(">BHI", buf, pos)
                    end = pos + _HEADER + size
                    if have > _HEADER + size:
                        break
                    self._receive(end + 1 - pos - have, False)
                else:
                    self._receive(_HEADER - have, True)
        except TimeoutError:
            raise
        except OSError as exc:
            if exc.errno not in _UNAVAILABLE:
                self.connected = False
            raise
        self._read_pos = end + 1
        if buf[end] != _FRAME_END:
            raise UnexpectedFrame(f"Received frame_end {buf[end]:#04x} while expecting 0xce")
        return frame_type, channel, buf[pos + _HEADER : end]

    def write(self, s: bytes) -> None:
        if self._cork is not None:
            self._cork.append(bytes(s))
            return
        super().write(s)

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """See :func:`corked`."""
        if self._cork is not None:  # already corked by an enclosing block: that one writes
            yield
            return
        self._cork = []
        try:
            yield
            held = b"".join(self._cork)
        finally:
            self._cork = None
        if held:
            super().write(held)


@contextlib.contextmanager
def corked(channel: Any) -> Iterator[None]:
    """Frames written on ``channel``'s connection (py-amqp's channel, as kombu's ``channel()``
    gives it) inside the block go out in one write at its end (see the module docstring); on a
    transport without corking (SSL), as they come."""
    transport = getattr(getattr(channel, "connection", None), "transport", None)
    if isinstance(transport, BufferedTCPTransport):
        with transport.corked():
            yield
    else:
        yield


def skip_publish_drain(channel: Any) -> None:
    """Stop py-amqp's ``basic_publish`` on ``channel``'s connection from reading it first.

    When the broker may send ``connection.blocked``, py-amqp drains the connection with a zero
    timeout before every publish: on a green socket one more receive, a timeout and a hub round
    trip per message. The connections this is used on are read elsewhere (a link's loop, a batch's
    confirm wait) or carry nothing their publisher needs (RPC replies), so whoever reads them still
    handles the broker's notices; only the extra read goes."""
    connection = channel.connection
    properties = dict(connection.client_properties)
    capabilities = dict(properties.get("capabilities") or {})
    capabilities["connection.blocked"] = False
    properties["capabilities"] = capabilities
    connection.client_properties = properties


def install() -> None:
    """Make new py-amqp TCP connections use :class:`BufferedTCPTransport` (idempotent)."""
    amqp.transport.TCPTransport = BufferedTCPTransport
