"""services.chassis.amqp_io without a broker: frames read through the buffer are exactly py-amqp's,
however the bytes arrive; a timeout in the middle of a frame loses nothing; corked writes are one
write, in order, and none when the block fails."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import amqp.transport
import pytest
from amqp.exceptions import UnexpectedFrame

from services.chassis import amqp_io
from services.chassis.amqp_io import BufferedTCPTransport, corked


def frame(frame_type: int, channel: int, payload: bytes, end: int = 206) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + bytes([end])


def transport_on(sock: socket.socket) -> BufferedTCPTransport:
    """A transport over one end of a socket pair, set up as py-amqp does after connecting."""
    transport = BufferedTCPTransport.__new__(BufferedTCPTransport)
    transport.sock = sock
    transport.raise_on_initial_eintr = True
    transport.connected = True
    transport._read_buffer = b""
    transport._setup_transport()
    return transport


def channel_of(transport: Any) -> Any:
    """A py-amqp channel's view of ``transport``: ``channel.connection.transport``."""
    return type("Channel", (), {"connection": type("Conn", (), {"transport": transport})()})()


def recorded(sock: socket.socket) -> tuple[BufferedTCPTransport, Any, list[bytes]]:
    """A transport whose socket writes are recorded, a channel on it, and the record."""
    transport = transport_on(sock)
    writes: list[bytes] = []
    transport._write = writes.append
    return transport, channel_of(transport), writes


@pytest.fixture
def pair() -> Any:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


FRAMES = [
    (1, 0, b"\x00\x0a\x00\x0b" + b"method"),
    (2, 3, b"h" * 14),
    (3, 3, b""),
    (3, 3, bytes(range(256)) * 300),  # larger than one read
    (8, 0, b""),
]


@pytest.mark.parametrize("piece", [1, 3, 7, 8, 100, 100_000])
def test_frames_come_out_whole_and_in_order_however_the_bytes_arrive(pair: Any, piece: int) -> None:
    ours, theirs = pair
    stream = b"".join(frame(*f) for f in FRAMES)
    transport = transport_on(ours)

    def send() -> None:
        for i in range(0, len(stream), piece):
            theirs.sendall(stream[i : i + piece])

    sender = threading.Thread(target=send)
    sender.start()
    got = [transport.read_frame() for _ in FRAMES]
    sender.join()
    assert got == FRAMES
    assert all(type(payload) is bytes for _t, _c, payload in got)


def test_a_burst_of_frames_is_read_with_one_receive(pair: Any) -> None:
    ours, theirs = pair
    theirs.sendall(b"".join(frame(3, 1, b"x" * 50) for _ in range(20)))
    transport = transport_on(ours)
    calls: list[int] = []
    recv = transport._quick_recv

    def counted(n: int) -> bytes:
        calls.append(n)
        return recv(n)

    transport._quick_recv = counted
    for _ in range(20):
        assert transport.read_frame() == (3, 1, b"x" * 50)
    assert len(calls) == 1


def test_a_timeout_in_the_middle_of_a_frame_keeps_what_arrived(pair: Any) -> None:
    ours, theirs = pair
    whole = frame(3, 2, b"payload-that-comes-in-two-parts")
    transport = transport_on(ours)
    ours.settimeout(0.05)
    theirs.sendall(whole[:5])
    with pytest.raises(socket.timeout):
        transport.read_frame()
    theirs.sendall(whole[5:12])
    with pytest.raises(socket.timeout):
        transport.read_frame()
    theirs.sendall(whole[12:] + frame(8, 0, b""))
    assert transport.read_frame() == (3, 2, b"payload-that-comes-in-two-parts")
    assert transport.read_frame() == (8, 0, b"")


def test_another_reader_taking_frames_while_one_waits_leaves_both_whole_frames(pair: Any) -> None:
    # py-amqp's basic_publish drains the connection (timeout 0) while its consuming loop waits on
    # it: here the second reader runs inside the first one's receive, as it would between the
    # first's trampoline and its wake-up
    ours, _theirs = pair
    first, second = frame(3, 1, b"first frame"), frame(3, 1, b"second frame")
    transport = transport_on(ours)
    taken: list[Any] = []
    chunks = iter([first + second[:5], second[5:]])
    calls = 0

    def recv(_n: int) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:  # the waiting reader's receive: another reader gets in before it returns
            taken.append(transport.read_frame())
        return next(chunks)

    transport._quick_recv = recv
    assert transport.read_frame() == (3, 1, b"second frame")
    assert taken == [(3, 1, b"first frame")]


def test_a_bad_frame_end_is_refused_as_py_amqp_refuses_it(pair: Any) -> None:
    ours, theirs = pair
    theirs.sendall(frame(1, 0, b"abc", end=0))
    with pytest.raises(UnexpectedFrame):
        transport_on(ours).read_frame()


def test_the_peer_closing_is_an_error_not_an_empty_frame(pair: Any) -> None:
    ours, theirs = pair
    theirs.sendall(frame(1, 0, b"abc")[:4])
    theirs.close()
    transport = transport_on(ours)
    with pytest.raises(OSError, match="unexpectedly closed"):
        transport.read_frame()
    assert transport.connected is False


def test_corked_frames_go_out_in_one_write_in_order(pair: Any) -> None:
    ours, _theirs = pair
    transport, channel, writes = recorded(ours)
    with corked(channel):
        transport.write(b"one")
        with corked(channel):  # an inner block leaves the writing to the outer one
            transport.write(b"two")
        transport.write(b"three")
        assert writes == []
    assert writes == [b"onetwothree"]
    transport.write(b"after")
    assert writes == [b"onetwothree", b"after"]


def test_a_corked_block_that_fails_writes_nothing(pair: Any) -> None:
    ours, _theirs = pair
    transport, channel, writes = recorded(ours)
    with pytest.raises(RuntimeError), corked(channel):
        transport.write(b"half")
        raise RuntimeError("the batch failed")
    assert writes == []
    transport.write(b"next")
    assert writes == [b"next"]


def test_other_transports_are_written_as_they_come() -> None:
    writes: list[bytes] = []
    transport = type("Plain", (), {"write": lambda self, s: writes.append(s)})()
    channel = channel_of(transport)
    with corked(channel):
        transport.write(b"a")
        assert writes == [b"a"]


def test_installed_for_new_tcp_connections() -> None:
    amqp_io.install()
    assert amqp.transport.TCPTransport is BufferedTCPTransport
    created = amqp.transport.Transport("127.0.0.1:1", connect_timeout=1)
    assert isinstance(created, BufferedTCPTransport)


def test_publishing_no_longer_drains_the_connection_first() -> None:
    connection = type("Conn", (), {})()
    connection.client_properties = {"product": "py-amqp", "capabilities": {"connection.blocked": True}}
    shared = connection.client_properties
    amqp_io.skip_publish_drain(type("Channel", (), {"connection": connection})())
    assert connection.client_properties["capabilities"]["connection.blocked"] is False
    assert connection.client_properties["product"] == "py-amqp"
    assert shared["capabilities"]["connection.blocked"] is True, "a copy: other connections keep theirs"
