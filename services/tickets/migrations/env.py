from services.chassis.migrate import run_env
from services.tickets.models import metadata

run_env(metadata)
