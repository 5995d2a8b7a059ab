"""deploy.rabbitmq: the ports a private node binds, and choosing a port where all of them are free.

A node's epmd (P+20001) was once left out of the bench's choice: a client socket held it, epmd
could not bind, and the node did not start."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deploy.rabbitmq import Cluster, Node, free_node_port


def test_a_lone_node_names_every_port_it_and_rabbitmqctl_bind() -> None:
    ports = Node(Path("."), 12000).ports
    assert ports == [12000, 22000, 32000, 32001, *range(42000, 42011)]


def test_a_cluster_node_leaves_the_shared_epmd_out() -> None:
    assert 32001 not in Node(Path("."), 12000, shared_epmd=32003).ports


def test_a_cluster_names_its_shared_epmd_and_every_nodes_ports_once() -> None:
    amqp, management, distribution = [*range(12000, 12003)], [*range(22000, 22003)], [*range(32000, 32003)]
    rabbitmqctl = [*range(42000, 42013)]  # each node's 11, overlapping
    assert Cluster(Path("."), 12000, 3).ports == [*amqp, *management, *distribution, 32003, *rabbitmqctl]


def test_a_candidate_with_any_port_taken_is_passed_over() -> None:
    crowded = free_node_port(range(13000, 14000))
    others = [port for port in range(14000, 15000) if port != crowded]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", crowded + 20001))  # its epmd's, bound but not listening
        chosen = free_node_port([crowded, *others])
    assert chosen != crowded
    assert free_node_port([crowded, *others]) == crowded, "free again once the socket is closed"


def test_no_candidate_left_is_an_error_not_a_port() -> None:
    with pytest.raises(RuntimeError, match="no free port range"):
        free_node_port([60000])  # its rabbitmqctl ports would pass 65535
