"""Alembic migrations, one history per service: ``python -m deploy.migrate <service> [...]``
(several services in one process, in the order given: the set-up step pays for importing
Alembic and SQLAlchemy once, not once per service).

The service, its migrations folder and its config come from ``services.registry``; the
database URL from that config's ``DB_URL``, or from ``url=`` when tests migrate a scratch
database. Each service's ``migrations/env.py`` runs ``services.chassis.migrations.run_env``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from services import registry
from services.chassis.settings import read_config

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(service: registry.NamekoService, url: str) -> Config:
    if service.migrations is None:
        raise LookupError(f"service {service.name!r} has no database to migrate")
    config = Config()
    config.set_main_option("script_location", str(ROOT / service.migrations))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(name: str, url: str | None = None, revision: str = "head") -> None:
    """Bring service ``name``'s database to ``revision`` (creating the SQLite file's folder)."""
    service = registry.service(name)
    url = url or read_config(ROOT / service.config)["DB_URL"]
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service, url), revision)


def main(argv: list[str]) -> int:
    names = [s.name for s in registry.SERVICES if s.migrations]
    if not argv or any(a not in names for a in argv) or len(set(argv)) != len(argv):
        usage = "usage: python -m deploy.migrate <service> [<service> ...]"
        print(f"{usage}   (each once, of: {', '.join(names)})", file=sys.stderr)
        return 2
    for name in argv:
        upgrade(name)
        print(f"migrate: {name} is at head", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
