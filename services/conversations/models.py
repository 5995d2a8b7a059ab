"""Tables of the conversations service (so far only the chassis' outbox and inbox)."""

from __future__ import annotations

from sqlalchemy import MetaData

from services.chassis.events import define_inbox
from services.chassis.outbox import Outbox

metadata = MetaData()

outbox = Outbox(metadata, {})  # publishes no events yet
processed_events = define_inbox(metadata)
