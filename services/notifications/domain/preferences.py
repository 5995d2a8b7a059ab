"""A person's notification preferences: stored choices over the contract's defaults."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.notifications.contract import (
    CHANNELS,
    DEFAULT_PREFERENCES,
    DIGEST_OFF,
    EMAIL,
    IN_APP,
    NOTIFICATION_TYPES,
)


@dataclass(frozen=True)
class Preferences:
    """What one person chose: ``choices`` maps ``(type, channel)`` to on/off where they chose,
    everything else is :data:`DEFAULT_PREFERENCES`."""

    choices: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    email_digest: str = DIGEST_OFF

    def wants(self, kind: str, channel: str) -> bool:
        chosen = self.choices.get((kind, channel))
        return DEFAULT_PREFERENCES[kind][channel] if chosen is None else chosen

    def in_app(self, kind: str) -> bool:
        return self.wants(kind, IN_APP)

    def email(self, kind: str) -> bool:
        return self.wants(kind, EMAIL)

    def to_wire(self) -> dict[str, Any]:
        """Every type and channel, and the digest mode (``contract.PreferencesSchema``)."""
        return {
            "types": {kind: {ch: self.wants(kind, ch) for ch in CHANNELS} for kind in NOTIFICATION_TYPES},
            "email_digest": self.email_digest,
        }


def changed_choices(update: Mapping[str, Any]) -> Iterable[tuple[str, str, bool]]:
    """``(type, channel, on)`` for each choice a validated ``PreferencesSchema`` body names."""
    for kind, channels in (update.get("types") or {}).items():
        for channel, on in channels.items():
            yield kind, channel, bool(on)
