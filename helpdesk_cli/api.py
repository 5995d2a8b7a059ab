"""The gateway over HTTP: one session, the profile's token, errors as :class:`CliError` with exit codes."""

from __future__ import annotations

import json
from typing import Any

import requests

from helpdesk_cli.errors import UNAVAILABLE, CliError, exit_code_for

TIMEOUT = 60.0


class Api:
    """Calls the gateway at ``url`` with ``token``; answers parsed JSON, raises CliError otherwise."""

    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}", "User-Agent": "helpdesk-cli"})

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        try:
            response = self.http.request(
                method,
                self.url + path,
                json=json_body,
                params={k: v for k, v in (params or {}).items() if v is not None},
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise CliError(f"cannot reach the help desk at {self.url}: {exc}", UNAVAILABLE) from exc
        if response.status_code >= 400:
            raise _error(response)
        if not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.request("POST", path, json_body={} if body is None else body, headers=headers)

    def patch(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.request("PATCH", path, json_body=body, headers=headers)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, json_body={} if body is None else body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def pages(self, path: str, *, limit: int = 100, **params: Any) -> list[dict[str, Any]]:
        """Every item of a cursor-paged list."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get(path, limit=limit, cursor=cursor, **params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def _error(response: requests.Response) -> CliError:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    message = f"HTTP {response.status_code}"
    if isinstance(body, dict):
        message = str(body.get("detail") or body.get("message") or body.get("title") or message)
        if body.get("errors"):
            message += " " + json.dumps(body["errors"])
    return CliError(message, exit_code_for(response.status_code), body)
