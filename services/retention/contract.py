"""Public contract of the retention service (its features arrive with later issues)."""

from __future__ import annotations

SERVICE_NAME = "retention"
