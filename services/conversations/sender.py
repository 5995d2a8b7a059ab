"""Sending agents' replies: the chassis's outgoing mail sender on the conversations store.

A reply is committed together with its outgoing mail row (``store.messages``); the chassis's
:class:`~services.chassis.mailer.MailSender` drains that queue after each commit and every
second, retries with back-off (:data:`~.domain.thread.RETRY_DELAYS`) and records the result
on the reply: ``sent``, or ``failed`` with the relay's reason (see :mod:`services.chassis.mailer`).
"""

from __future__ import annotations

from services.chassis.mailer import MailQueue
from services.chassis.mailer import MailSender as _ChassisSender
from services.conversations.store import ConversationStore


class MailSender(_ChassisSender):
    """Drains the replies' outgoing mail (``store.messages``)."""

    def queue_of(self, store: ConversationStore) -> MailQueue:
        return store.messages
