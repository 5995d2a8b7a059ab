"""Who is told what: every rule about recipients, in one place, as plain Python.

An event becomes a :class:`Plan` (what happened to which ticket, who did it, and the
:class:`Role` of each kind of recipient, most specific first); the tickets service then says who
the ticket's owner and followers are and which of all those people may see the ticket now
(:class:`Audience`, the one access rule applied at handling time), and the permissions service
who the super admins are (:class:`Admins`) when a role names them; :func:`decide` turns these
into one :class:`Notice` per person. The rules:

* followers are those who followed by the time of the change (not who followed since);
* each person gets at most one notification per event, of the first role they fall in (a
  follower who is the new owner hears "assigned to you", not also "record updated");
* never the person who caused the change (the one exception: a lone bootstrap admin hears of
  its own tickets, API.md);
* never anyone who cannot see the ticket now (super admins see every live ticket, so the
  tickets service is asked about the others only: the two questions need not wait for each other);
* nothing for a change made with a quiet (integration) token, nor for automatic mail;
* the events of one bulk change share a ``batch_id``: each person's notifications of one type
  for that batch coalesce into one (``group_key``); a merge is one event, so one notification
  per person on the surviving ticket.

Adding an event means adding a plan function here and a three-line handler in the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.notifications.contract import (
    ASSIGNED_TO_YOU,
    MENTIONED,
    NEW_MESSAGE,
    RECORD_UPDATED,
    SLA_BREACHED,
    STATUS_CHANGED,
    TICKET_CREATED,
)

FIELDS_WITH_THEIR_OWN_TYPE = ("owner_id", "status")


@dataclass(frozen=True)
class Role:
    """People who get notifications of ``type``: named ``users``, the ticket's ``followers``,
    its current ``owner``, the ``super_admins`` (see :func:`super_admins_told`). ``actor_too``
    lets the actor be one of them."""

    type: str
    users: frozenset[int] = frozenset()
    followers: bool = False
    owner: bool = False
    super_admins: bool = False
    actor_too: bool = False


@dataclass(frozen=True)
class Plan:
    """What one event means for notifications: its ticket, its actor, the roles (most specific
    first) and the bulk change it belongs to, if any."""

    event_id: str
    ticket_id: int
    actor_id: int | None
    roles: tuple[Role, ...]
    batch_id: str | None = None
    occurred_at: str | None = None

    @property
    def named(self) -> frozenset[int]:
        """Everyone a role names explicitly."""
        return frozenset().union(*(role.users for role in self.roles))

    @property
    def needs_watchers(self) -> bool:
        """Whether any role includes the ticket's owner or followers."""
        return any(role.followers or role.owner for role in self.roles)

    @property
    def needs_super_admins(self) -> bool:
        """Whether any role includes the super admins."""
        return any(role.super_admins for role in self.roles)


NOTHING = ()


@dataclass(frozen=True)
class Audience:
    """What the tickets service says about the ticket now: its name, owner and followers, and
    which of the people asked about may see it."""

    name: str
    owner_id: int | None
    followers: frozenset[int]
    visible: frozenset[int]


@dataclass(frozen=True)
class Admins:
    """What the permissions service says about the super admins, as of a moment no earlier than
    the event: who they are, and how many users there are (the lone admin rule)."""

    ids: frozenset[int]
    user_count: int


@dataclass(frozen=True)
class Notice:
    """One notification for one person. ``group_key`` is shared by the notices of one bulk change
    (same type, same person) that make one notification together."""

    user_id: int
    type: str
    ticket_id: int
    ticket_name: str
    actor_id: int | None
    group_key: str | None


def decide(plan: Plan, audience: Audience, admins: Admins | None = None) -> list[Notice]:
    """One notice per person (see the module docstring), in user id order. ``admins`` is needed
    when a role includes the super admins (ValueError without it)."""
    told: dict[int, str] = {}
    for role in plan.roles:
        people = set(role.users)
        if role.followers:
            people |= audience.followers
        if role.owner and audience.owner_id is not None:
            people.add(audience.owner_id)
        if not role.actor_too and plan.actor_id is not None:
            people.discard(plan.actor_id)
        people &= audience.visible
        if role.super_admins:
            if admins is None:
                raise ValueError(f"{plan.event_id}: a role includes the super admins, and none were given")
            people.update(super_admins_told(admins, plan.actor_id))
        for user_id in people:
            told.setdefault(user_id, role.type)
    return [
        Notice(
            user_id=user_id,
            type=kind,
            ticket_id=plan.ticket_id,
            ticket_name=audience.name,
            actor_id=plan.actor_id,
            group_key=f"batch:{plan.batch_id}:{kind}" if plan.batch_id else None,
        )
        for user_id, kind in sorted(told.items())
    ]


def super_admins_told(admins: Admins, actor_id: int | None) -> list[int]:
    """Super admins other than the actor; a lone bootstrap admin (the only user) hears of its own
    tickets."""
    ids = sorted(admins.ids)
    others = [uid for uid in ids if uid != actor_id]
    if not others and admins.user_count == 1 and ids == [actor_id]:
        return ids
    return others


def _unless_quiet(event: Mapping[str, Any], roles: Sequence[Role]) -> tuple[Role, ...]:
    """Nothing for a change made with a quiet token (an integration's, by default)."""
    return NOTHING if event.get("quiet") else tuple(roles)


def _plan(event: Mapping[str, Any], roles: Sequence[Role], actor_id: int | None) -> Plan:
    return Plan(
        event_id=str(event["event_id"]),
        ticket_id=int(event["ticket_id"]),
        actor_id=actor_id,
        roles=tuple(roles),
        batch_id=event.get("batch_id"),
        occurred_at=event.get("occurred_at"),
    )


def ticket_created(event: Mapping[str, Any]) -> Plan:
    """tickets' ``ticket_created``: its owner hears it is theirs (unless they made it); super admins
    get the ``ticket_created`` feed item API.md fixes, even for an integration's ticket."""
    actor = int(event["actor_id"])
    roles: list[Role] = []
    if event.get("owner_id") is not None:
        roles.extend(_unless_quiet(event, [Role(ASSIGNED_TO_YOU, frozenset({int(event["owner_id"])}))]))
    roles.append(Role(TICKET_CREATED, super_admins=True, actor_too=True))
    return _plan(event, roles, actor)


def ticket_updated(event: Mapping[str, Any]) -> Plan:
    """tickets' ``ticket_updated``: a new owner hears it was assigned to them, the owner and the
    followers of a status change hear of it, and followers hear of any other change."""
    changes: Mapping[str, Any] = event["changes"]
    roles = []
    if "owner_id" in changes and changes["owner_id"][1] is not None:
        roles.append(Role(ASSIGNED_TO_YOU, frozenset({int(changes["owner_id"][1])})))
    if "status" in changes:
        roles.append(Role(STATUS_CHANGED, followers=True, owner=True))
    roles.append(Role(RECORD_UPDATED, followers=True))
    return _plan(event, _unless_quiet(event, roles), int(event["actor_id"]))


def record_activity(event: Mapping[str, Any]) -> Plan:
    """Any other activity on a ticket (an association added or removed): its followers hear of it."""
    return _plan(event, _unless_quiet(event, [Role(RECORD_UPDATED, followers=True)]), int(event["actor_id"]))


def ticket_merged(event: Mapping[str, Any]) -> Plan:
    """tickets' ``ticket_merged``: the survivor's owner and followers (the absorbed ticket's
    followers are among them by then) hear of it once, as activity on the ticket they keep."""
    roles = [Role(RECORD_UPDATED, followers=True, owner=True)]
    return _plan(event, _unless_quiet(event, roles), int(event["actor_id"]))


def message_added(event: Mapping[str, Any]) -> Plan | None:
    """conversations' ``message_added`` (None: nobody is told). A customer's message reaches the
    owner and followers; an agent's reply or note is activity for followers, and a note tells the
    people it mentions. Automatic mail (auto-replies, bounces) and threads without a ticket tell
    nobody."""
    if event.get("auto") is not None or event.get("ticket_id") is None:
        return None
    author = event.get("author_id")
    kind = event["kind"]
    if kind == "customer":
        roles = [Role(NEW_MESSAGE, followers=True, owner=True)]
    elif kind == "note":
        mentions = frozenset(int(uid) for uid in event.get("mentions") or ())
        roles = [Role(MENTIONED, mentions), Role(RECORD_UPDATED, followers=True)]
    else:
        roles = [Role(RECORD_UPDATED, followers=True)]
    return _plan(event, roles, None if kind == "customer" or author is None else int(author))


def sla_breached(event: Mapping[str, Any]) -> Plan:
    """tickets' ``sla_breached`` (the SLA clock, actor 0): the owner and followers hear of it."""
    return _plan(event, [Role(SLA_BREACHED, followers=True, owner=True)], None)
