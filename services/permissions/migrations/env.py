from services.chassis.migrations import run_env
from services.permissions.models import metadata

run_env(metadata)
