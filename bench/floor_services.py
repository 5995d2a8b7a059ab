"""The framework floor: the least nameko can do for one HTTP request that makes one RPC.

Run each in its own ``nameko run`` process (two ``@http`` services in one process fight
over the port, and one process each is how the suite runs):

* ``EchoService`` (``bench_echo``): one plain nameko ``@rpc`` that returns its argument.
* ``HttpEchoService`` (``bench_http``): ``POST /echo`` passes the JSON body to
  ``bench_echo.echo`` through nameko's own ``RpcProxy`` and returns the answer as JSON.

No identity, no deadline, no database: whatever the gateway costs beyond this is ours.
"""

from __future__ import annotations

import json
from typing import Any

from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http


class EchoService:
    """``bench_echo.echo(value)`` returns ``value``."""

    name = "bench_echo"

    @rpc
    def echo(self, value: Any) -> Any:
        return value


class HttpEchoService:
    """``POST /echo`` answers 200 with the body, round-tripped through ``bench_echo.echo``."""

    name = "bench_http"

    echo_service = RpcProxy("bench_echo")

    @http("POST", "/echo")
    def echo(self, request: Any) -> tuple[int, dict[str, str], str]:
        payload = json.loads(request.get_data(as_text=True) or "null")
        answer = self.echo_service.echo(payload)
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)
