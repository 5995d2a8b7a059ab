"""``deploy.ports.free_port``: ports below the kernel's ephemeral range, bindable, never twice."""

from __future__ import annotations

import socket

from deploy import ports


def test_ports_come_from_below_the_ephemeral_range_and_never_twice() -> None:
    handed = [ports.free_port() for _ in range(50)]
    assert len(set(handed)) == len(handed)
    assert all(ports.RANGE.start <= port < ports.RANGE.stop for port in handed)
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    assert ports.RANGE.stop <= ephemeral_low


def test_a_port_something_holds_is_not_bindable() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        assert not ports.bindable(held.getsockname()[1])
    assert ports.bindable(ports.free_port())
