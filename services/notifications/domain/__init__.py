"""Rules of the notifications service, as plain Python (no nameko, no SQLAlchemy).

* :mod:`.recipients` - who is told what: an event's :class:`Plan`, the ticket's
  :class:`Audience`, and :func:`decide` (one :class:`Notice` per person).
* :mod:`.preferences` - a person's choices per type and channel over the defaults.
* :mod:`.render` - titles, and the emails rendered from the templates.
"""

from services.notifications.domain.preferences import Preferences, changed_choices
from services.notifications.domain.recipients import (
    Admins,
    Audience,
    Notice,
    Plan,
    Role,
    decide,
    super_admins_told,
)
from services.notifications.domain.render import (
    Line,
    MailContent,
    digest_mail,
    notification_mail,
    ticket_lines,
    title,
)

__all__ = [
    "Admins",
    "Audience",
    "Line",
    "MailContent",
    "Notice",
    "Plan",
    "Preferences",
    "Role",
    "changed_choices",
    "decide",
    "digest_mail",
    "notification_mail",
    "super_admins_told",
    "ticket_lines",
    "title",
]
