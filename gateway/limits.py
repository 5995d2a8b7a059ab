"""Rate limits: token buckets for failed authentications, failed sign-ins and writes.

Five limits, each a bucket per key that holds up to ``burst`` requests and refills at
``rate`` per second (``rate`` 0 switches a limit off):

* ``failed_auth_per_address`` - presented credentials that did not authenticate, per client
  address (REMOTE_ADDR; the gateway trusts no forwarding header);
* ``failed_auth_per_token`` - the same, per token (its SHA-256, never the token), so one
  leaked-then-revoked token retried in a loop is refused cheaply;
* ``failed_signin_per_address`` - sign-ins (``POST /api/v1/sessions``) whose email and password
  did not match, and set-password attempts with an invite that does not work, per client address;
* ``failed_signin_per_email`` - failed sign-ins per address they named (its SHA-256), however
  many client addresses they come from; a password guesser is slowed to a trickle per account;
* ``writes_per_token`` - POST, PUT, PATCH and DELETE per token (or session).

An empty bucket answers 429 with ``Retry-After`` (whole seconds until one request fits)
before any RPC is made. The buckets live in the gateway process: several gateway instances
each keep their own, so a client spread over N instances gets up to N times the rate. The
defaults are far above what a person or the suite's own load tests do (the fault tests' 8
clients creating 200 tickets) and are set in ``gateway/config.yaml`` (``RATE_LIMITS``, with
``HELPDESK_RATE_*`` environment overrides). The benchmarks switch the write limit off
(``bench.run.BENCH_SUITE_SETTINGS``): one token creating at full speed passes 100 a second once
its burst is spent, and they measure the suite, not the limit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nameko.extensions import SharedExtension

from gateway.logs import Throttled
from services.chassis.errors import HelpdeskError

CONFIG_KEY = "RATE_LIMITS"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TooManyRequests(HelpdeskError):
    """A rate limit is exhausted; ``retry_after`` (seconds) also travels as ``Retry-After``."""

    status = 429
    title = "Too many requests"


@dataclass(frozen=True)
class Limit:
    """``rate`` requests per second on average, ``burst`` at once; rate 0 means unlimited."""

    rate: float
    burst: float

    @classmethod
    def from_config(cls, raw: Any, default: Limit) -> Limit:
        if not isinstance(raw, Mapping):
            return default
        rate = float(raw.get("rate", default.rate))
        burst = float(raw.get("burst", default.burst))
        if rate < 0 or burst < 1 or math.isnan(rate) or math.isnan(burst):
            raise ValueError(f"a rate limit needs rate >= 0 and burst >= 1, not {dict(raw)}")
        return cls(rate, burst)


DEFAULTS = {
    "failed_auth_per_address": Limit(rate=2.0, burst=100.0),
    "failed_auth_per_token": Limit(rate=0.2, burst=10.0),
    "failed_signin_per_address": Limit(rate=0.1, burst=20.0),
    "failed_signin_per_email": Limit(rate=1 / 60, burst=10.0),
    "writes_per_token": Limit(rate=100.0, burst=2000.0),
}


class Buckets:
    """Token buckets of one :class:`Limit`, one per key; full ones are forgotten when the
    table grows, so a flood of distinct keys costs bounded memory."""

    def __init__(self, limit: Limit, clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000):
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def _level(self, key: str, now: float) -> float:
        level, at = self._buckets.get(key, (self.limit.burst, now))
        return min(self.limit.burst, level + (now - at) * self.limit.rate)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may make one more request (0: now); takes nothing."""
        if self.limit.rate == 0:
            return 0.0
        level = self._level(key, self.clock())
        return 0.0 if level >= 1 else (1 - level) / self.limit.rate

    def take(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0 when it fitted, else the seconds to wait."""
        if self.limit.rate == 0:
            return 0.0
        now = self.clock()
        level = self._level(key, now)
        if level < 1:
            self._buckets[key] = (level, now)
            return (1 - level) / self.limit.rate
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._forget_full(now)
        self._buckets[key] = (level - 1, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            k: (level, at)
            for k, (level, at) in self._buckets.items()
            if level + (now - at) * self.limit.rate < self.limit.burst
        }


def refuse(seconds: float, what: str) -> TooManyRequests:
    retry_after = max(1, math.ceil(seconds))
    return TooManyRequests(f"Too many {what}; retry in {retry_after} s.", retry_after=retry_after)


class RateLimits(SharedExtension):
    """The gateway's buckets, shared by every route (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings = Throttled(logging.getLogger("gateway.auth"))
        self.configure({})

    def setup(self) -> None:
        self.configure(self.container.config.get(CONFIG_KEY) or {})

    def configure(self, config: Mapping[str, Any]) -> None:
        limits = {name: Limit.from_config(config.get(name), default) for name, default in DEFAULTS.items()}
        self.by_address = Buckets(limits["failed_auth_per_address"])
        self.by_token = Buckets(limits["failed_auth_per_token"])
        self.writes = Buckets(limits["writes_per_token"])
        self.signin_by_address = Buckets(limits["failed_signin_per_address"])
        self.signin_by_email = Buckets(limits["failed_signin_per_email"])

    def check_authentication(self, address: str, token_key: str | None) -> None:
        """Before a token is looked up: 429 while its address or the token itself is throttled."""
        wait = self.by_address.wait(address)
        if token_key is not None:
            wait = max(wait, self.by_token.wait(token_key))
        if wait > 0:
            raise refuse(wait, "failed authentications")

    def failed_authentication(self, address: str, token_key: str | None) -> None:
        """Count a failure against the address and the token, and say so (at most once a minute)."""
        self.by_address.take(address)
        if token_key is not None:
            self.by_token.take(token_key)
        self.warnings.warning(address, "failed authentication from %s", address)

    def check_sign_in(self, address: str, email_key: str | None) -> None:
        """Before a password is checked: 429 while the address or the account named is throttled."""
        wait = self.signin_by_address.wait(address)
        if email_key is not None:
            wait = max(wait, self.signin_by_email.wait(email_key))
        if wait > 0:
            raise refuse(wait, "failed sign-ins")

    def failed_sign_in(self, address: str, email_key: str | None) -> None:
        """Count a failed sign-in (or set-password attempt) against the address and the account."""
        self.signin_by_address.take(address)
        if email_key is not None:
            self.signin_by_email.take(email_key)
        self.warnings.warning("signin:" + address, "failed sign-in from %s", address)

    def check_write(self, method: str, token_key: str) -> None:
        if method in WRITE_METHODS:
            wait = self.writes.take(token_key)
            if wait > 0:
                raise refuse(wait, "writes")
