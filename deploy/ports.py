"""TCP ports for the servers a test or a benchmark starts, chosen where no client socket takes them.

A port read off ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range, the range every
outgoing connection also draws its own end from. Between choosing such a port and a server binding
it, one of the connections the services open to RabbitMQ or PostgreSQL while they start can take it
as its local end; CI saw the gateway fail to bind for 90 s that way. :func:`free_port` promises:

* **Below the ephemeral range.** Ports come from 16000-20999: under Linux's default ephemeral range
  (32768-60999), so no outgoing connection is given one, and clear of the ranges a private RabbitMQ
  node takes (``deploy.rabbitmq.Node.ports``: AMQP 11000-15000 and 21000-25000, with offsets of
  10000, 20000 and 30000 above those).
* **Bindable now, and once per process.** A port is handed out only if a socket can bind it at
  the moment of choosing, and never twice by one process, so two servers of one test never get the
  same port.

:func:`port_taken` says whether a run's fixed port (the gateway's, the SMTP edge's) is held already.
"""

from __future__ import annotations

import random
import socket

RANGE = range(16000, 21000)
_handed_out: set[int] = set()


def bindable(port: int) -> bool:
    """Whether a socket could bind 127.0.0.1:``port`` now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port``: a bind with ``SO_REUSEADDR`` fails. Unlike
    :func:`bindable`, the connections a stopped server left in TIME_WAIT do not count: the
    servers we start bind past them."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A port of :data:`RANGE` that nothing holds now and this process has not handed out before."""
    for port in random.sample(RANGE, 400):
        if port not in _handed_out and bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port in {RANGE.start}-{RANGE.stop - 1}")
