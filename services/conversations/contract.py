"""Public contract of the conversations service (its features arrive with later issues)."""

from __future__ import annotations

SERVICE_NAME = "conversations"
