"""The values outgoing (and incoming) mail code passes around: plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

Address = tuple[str, str]
"""``(display name, address)``; the name may be empty."""


def is_mail_address(address: str) -> bool:
    """Whether ``address`` can be written to: a local part, ``@`` and a domain (``not``, what
    ``From: not an address at all`` reads as, cannot)."""
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain)


@dataclass(frozen=True)
class MailAttachment:
    """A file carried by a mail. ``inline`` parts have a ``content_id`` the HTML shows as ``cid:``."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False
