"""Sending notification mail: the chassis's outgoing mail sender on the notifications store.

Each notification's mail is queued in the same transaction that stores the notification
(``store.mail``); :class:`~services.chassis.mailer.MailSender` drains the queue after each commit
and every second, through ``HELPDESK_SMTP_RELAY`` or into ``$DATA/mail-out``, and retries a relay
that does not take it with back-off (see :mod:`services.chassis.mailer`).
"""

from __future__ import annotations

from services.chassis.mailer import MailQueue, MailSender
from services.notifications.store import NotificationStore


class NotificationMailSender(MailSender):
    """Drains the notifications' outgoing mail (``store.mail``)."""

    def queue_of(self, store: NotificationStore) -> MailQueue:
        return store.mail
