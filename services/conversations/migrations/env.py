from services.chassis.migrate import run_env
from services.conversations.models import metadata

run_env(metadata)
