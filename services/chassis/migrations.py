"""What every service's ``migrations/env.py`` runs: alembic against the URL it was given.

Only this half of migrating lives in the chassis, because a service's own migration history needs
it. Choosing which service to migrate and where its database is belongs to the deploy tool,
``python -m deploy.migrate <service>``, which reads the service registry.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

from services.chassis.db import make_engine


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
