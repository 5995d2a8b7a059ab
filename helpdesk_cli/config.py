"""Profiles: a base URL and a token under a name, kept in the user's config folder.

``$XDG_CONFIG_HOME/helpdesk/profiles.json`` (default ``~/.config/helpdesk``), readable by the
user only (the tokens are secrets). ``HELPDESK_URL`` and ``HELPDESK_TOKEN`` override the
profile (for CI and one-off scripts); ``HELPDESK_PROFILE`` or ``--profile`` picks one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpdesk_cli.errors import UNAUTHENTICATED, CliError

DEFAULT_URL = "http://127.0.0.1:8000"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "helpdesk" / "profiles.json"


@dataclass(frozen=True)
class Profile:
    name: str
    url: str
    token: str


def load_all() -> dict[str, Any]:
    """``{"default": name, "profiles": {name: {"url", "token"}}}`` (empty when there is no file)."""
    try:
        data = json.loads(config_path().read_text())
    except FileNotFoundError:
        return {"default": None, "profiles": {}}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {config_path()}: {exc}") from exc
    data.setdefault("profiles", {})
    data.setdefault("default", None)
    return dict(data)


def save(name: str, url: str, token: str, *, make_default: bool = True) -> Path:
    """Store a profile (the file is created readable by the user only)."""
    data = load_all()
    data["profiles"][name] = {"url": url.rstrip("/"), "token": token}
    if make_default or not data.get("default"):
        data["default"] = name
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    os.replace(temporary, path)
    return path


def remove(name: str) -> bool:
    data = load_all()
    if name not in data["profiles"]:
        return False
    del data["profiles"][name]
    if data.get("default") == name:
        data["default"] = next(iter(data["profiles"]), None)
    path = config_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    return True


def resolve(name: str | None) -> Profile:
    """The profile to use: ``name`` (or ``HELPDESK_PROFILE``, or the default), overridden by the env."""
    env_url, env_token = os.environ.get("HELPDESK_URL"), os.environ.get("HELPDESK_TOKEN")
    data = load_all()
    chosen = name or os.environ.get("HELPDESK_PROFILE") or data.get("default")
    stored = data["profiles"].get(chosen) if chosen else None
    if chosen and stored is None and name:
        raise CliError(
            f"no profile named {name!r}; `helpdesk login --profile {name}` creates it", UNAUTHENTICATED
        )
    url = env_url or (stored or {}).get("url") or DEFAULT_URL
    token = env_token or (stored or {}).get("token")
    if not token:
        raise CliError("not signed in: run `helpdesk login` (or set HELPDESK_TOKEN)", UNAUTHENTICATED)
    return Profile(chosen or "env", url.rstrip("/"), token)
