from services.chassis.migrations import run_env
from services.conversations.models import metadata

run_env(metadata)
