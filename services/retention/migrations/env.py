from services.chassis.migrate import run_env
from services.retention.models import metadata

run_env(metadata)
