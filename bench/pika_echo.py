"""The broker floor's server: ``python -m bench.pika_echo AMQP_URI QUEUE``.

Consumes ``QUEUE`` (exclusive: it disappears with this process) and publishes every body
back, unchanged, to the request's ``reply_to`` through the default exchange with the same
correlation id, which is all RabbitMQ's direct reply-to needs. No acks, no confirms, no
decoding: the least an AMQP RPC round trip can cost from Python.
"""

from __future__ import annotations

import sys
from typing import Any

import pika


def serve(amqp_uri: str, queue: str) -> None:
    """Answer requests on ``queue`` until the process is killed."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    channel.queue_declare(queue, exclusive=True, auto_delete=True)

    def on_request(ch: Any, _method: Any, props: Any, body: bytes) -> None:
        ch.basic_publish("", props.reply_to, body, pika.BasicProperties(correlation_id=props.correlation_id))

    channel.basic_consume(queue, on_request, auto_ack=True)
    print(f"echoing on {queue}", flush=True)
    channel.start_consuming()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bench.pika_echo AMQP_URI QUEUE")
    serve(sys.argv[1], sys.argv[2])
