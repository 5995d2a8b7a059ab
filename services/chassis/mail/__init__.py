"""Outgoing mail, as plain Python (no nameko, no database), for every service that sends any.

* :mod:`.compose` - ``compose(...)``: a message as 7-bit bytes any relay accepts (agents'
  replies in conversations, notification mail); ``auto=True`` marks mail no person wrote.
* :mod:`.transport` - ``SmtpRelayTransport`` and ``EmlFolderTransport``; a failure is either
  transient (retry) or permanent (give up); ``transport_from_env`` reads API.md's settings.
* :mod:`.refs` - message ids, ``References`` of a reply, the ``[#ticket]`` subject marker.
* :mod:`.model` - ``MailAttachment`` and ``Address``.

Draining a service's queue of outgoing mail after commit, with back-off, is
:mod:`services.chassis.mailer` (it needs nameko); this package imports nothing else of ours.
"""
