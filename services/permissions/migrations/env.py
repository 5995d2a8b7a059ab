from services.chassis.migrate import run_env
from services.permissions.models import metadata

run_env(metadata)
