"""The identity secret: the HMAC key that signs and verifies every caller identity.

Whoever knows it can forge any identity, super admin included, so it is never defaulted. A
process takes the first of

1. ``IDENTITY_SECRET`` in its nameko config (tests and embedders pass it there; the shipped
   ``config.yaml`` files do not carry it),
2. the environment variable ``HELPDESK_IDENTITY_SECRET``,
3. the file ``$HELPDESK_DATA_DIR/identity.secret`` (``HELPDESK_DATA_DIR`` defaults to ``var``),
   which ``make run`` creates once with mode 0600,

and refuses it when it is shorter than 32 characters or a known placeholder. A service without a
usable secret does not start: the chassis's RPC extensions call :func:`require_identity_secret`
when nameko binds them to the container, before any broker connection, and the process exits
with one line saying what to set. The value is read once per process (the file is not re-read):
every service must hold the same one, so changing it means restarting them all.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.chassis import config as cfg

ENV_VAR = "HELPDESK_IDENTITY_SECRET"
DATA_DIR_VAR = "HELPDESK_DATA_DIR"
DEFAULT_DATA_DIR = "var"
FILE_NAME = "identity.secret"
MIN_LENGTH = 32
MIN_DISTINCT = 8

# Compared with letters and digits only, lower-cased: "Change-Me" and "change_me" are one value.
PLACEHOLDERS = frozenset(
    {"changeme", "secret", "password", "test", "testing", "default", "identitysecret", "helpdesk"}
)
PLACEHOLDER_PARTS = ("changeme", "replaceme", "yoursecret", "placeholder", "example")
WANTED = (
    f"a random value of at least {MIN_LENGTH} characters"
    " (e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
)


class IdentitySecretError(RuntimeError):
    """No usable identity secret; the message is one line that says what to set."""


def secret_file(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the secret is kept when the environment does not give it."""
    return Path(environ.get(DATA_DIR_VAR) or DEFAULT_DATA_DIR).absolute() / FILE_NAME


def identity_secret(config: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str:
    """The identity secret for a process with nameko ``config``; IdentitySecretError if there is
    none or it is unusable. Cheap after the first call: RPC entrypoints call it per request."""
    configured = config.get(cfg.IDENTITY_SECRET)
    return _resolve(
        None if configured in (None, "") else str(configured),
        environ.get(ENV_VAR) or None,
        environ.get(DATA_DIR_VAR) or DEFAULT_DATA_DIR,
    )


def require_identity_secret(config: Mapping[str, Any], process: str = "helpdesk") -> None:
    """Exit the process unless ``config`` and the environment give a usable secret.

    Raises SystemExit with the reason, so ``nameko run`` and tools end with that one line on
    stderr and status 1, and no traceback.
    """
    try:
        identity_secret(config)
    except IdentitySecretError as error:
        raise SystemExit(f"{process}: refusing to start: {error}") from None


def check_secret(value: str, source: str, remedy: str) -> str:
    """``value`` stripped, if it is usable as the identity secret; otherwise IdentitySecretError
    naming ``source`` (never the value) and what to do about it (``remedy``)."""
    secret = value.strip()
    folded = re.sub(r"[^a-z0-9]", "", secret.lower())
    if folded in PLACEHOLDERS or any(part in folded for part in PLACEHOLDER_PARTS):
        raise IdentitySecretError(f"the identity secret from {source} is a placeholder; {remedy}")
    if len(secret) < MIN_LENGTH:
        raise IdentitySecretError(
            f"the identity secret from {source} is too short ({len(secret)} characters); {remedy}"
        )
    if len(set(secret)) < MIN_DISTINCT:
        raise IdentitySecretError(f"the identity secret from {source} is not random; {remedy}")
    return secret


@functools.lru_cache(maxsize=8)
def _resolve(configured: str | None, from_env: str | None, data_dir: str) -> str:
    if configured is not None:
        source = f"{cfg.IDENTITY_SECRET} in the nameko config"
        return check_secret(configured, source, f"give {cfg.IDENTITY_SECRET} {WANTED}")
    if from_env is not None:
        return check_secret(from_env, ENV_VAR, f"set {ENV_VAR} to {WANTED}")
    path = secret_file({DATA_DIR_VAR: data_dir})
    try:
        stored = path.read_text()
    except FileNotFoundError:
        raise IdentitySecretError(
            f"no identity secret: set {ENV_VAR} to {WANTED}, or put one in {path}"
        ) from None
    except OSError as error:
        raise IdentitySecretError(
            f"cannot read the identity secret file {path} ({error.strerror}); set {ENV_VAR} instead"
        ) from None
    return check_secret(stored, str(path), f"put {WANTED} in it, or set {ENV_VAR}")
