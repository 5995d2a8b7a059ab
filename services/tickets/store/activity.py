"""Per-user state of a ticket (follow, read) and its activity timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from services.chassis import paging
from services.chassis.clock import aware, isoformat
from services.chassis.errors import NotFound
from services.chassis.events import already_processed, mark_processed
from services.tickets.domain import (
    EVERYTHING,
    Change,
    Scope,
    follow_change,
    message_effect,
    message_entry,
    thread_move_entry,
)
from services.tickets.models import followers, processed_events, reads, tickets, timeline
from services.tickets.store import queries
from services.tickets.store.base import Records, Stamp, from_json
from services.tickets.store.pipelines import reopening_stage
from services.tickets.store.sla import SYSTEM_ACTOR, Slas

CUSTOMER_MESSAGE_HANDLER = "customer_message_received"
MESSAGE_ADDED_HANDLER = "handle_message_added"
THREAD_MOVED_HANDLER = "handle_thread_moved"
FOLLOWERS_SORT = "user_id"
TIMELINE_SORT = "-id"


_AUDIENCE_TICKETS = select(tickets.c.id, tickets.c.name, tickets.c.owner_id).where(
    tickets.c.id.in_(bindparam("ticket_ids", expanding=True)), queries.live()
)
_AUDIENCE_FOLLOWERS = (
    select(followers.c.ticket_id, followers.c.user_id, followers.c.created_at)
    .where(followers.c.ticket_id.in_(bindparam("ticket_ids", expanding=True)))
    .order_by(followers.c.ticket_id, followers.c.user_id)
)
"""Audiences are read for every batch of events notifications handles: two statements a batch,
built once (one ticket's and one follower list's statement per ticket cost a batch of 12 new
tickets 24 statements)."""


class Activity:
    """Followers, read marks, the customer-message hook and the timeline."""

    def __init__(self, records: Records, *, slas: Slas) -> None:
        self.r = records
        self.db = records.db
        self.slas = slas

    def follow(
        self, *, scope: Scope, user_id: int, ticket_id: int, stamp: Stamp | None = None
    ) -> dict[str, Any]:
        """Follow (idempotent); the first time records a timeline entry and ``ticket_followed``."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            self.r.visible_id(s, scope, ticket_id, shared=True)  # listed until this commits
            values = {"ticket_id": ticket_id, "user_id": user_id, "created_at": now}
            if self.r.insert_new(s, followers, values, ["ticket_id", "user_id"]):
                self.r.restamp_follows(s, [ticket_id])
                change = follow_change(ticket_id, user_id, following=True)
                self.r.write_entries(s, ticket_id, change, user_id, now, stamp=stamp)
            return {"ticket_id": ticket_id, "following": True}

    def unfollow(
        self, *, scope: Scope, user_id: int, ticket_id: int, stamp: Stamp | None = None
    ) -> dict[str, Any]:
        """Stop following (idempotent); only an actual change is recorded."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            self.r.visible_id(s, scope, ticket_id)
            gone = s.execute(
                delete(followers).where(followers.c.ticket_id == ticket_id, followers.c.user_id == user_id)
            )
            if gone.rowcount:  # type: ignore[attr-defined]
                change = follow_change(ticket_id, user_id, following=False)
                self.r.write_entries(s, ticket_id, change, user_id, now, stamp=stamp)
            return {"ticket_id": ticket_id, "following": False}

    def followers(self, *, scope: Scope, ticket_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """The ticket's followers by user id, paginated."""
        with self.db.read() as s:
            self.r.visible_id(s, scope, ticket_id)
            query = select(followers).where(followers.c.ticket_id == ticket_id)
            if cursor:
                _key, after = paging.read_keyset(cursor, FOLLOWERS_SORT, int)
                query = query.where(followers.c.user_id > after)
            rows = s.execute(query.order_by(followers.c.user_id).limit(limit + 1)).all()
            total = s.scalar(
                select(func.count()).select_from(followers).where(followers.c.ticket_id == ticket_id)
            )
        return paging.page(
            rows,
            limit,
            total or 0,
            lambda r: {"user_id": r.user_id, "since": isoformat(r.created_at)},
            lambda r: paging.keyset_cursor(FOLLOWERS_SORT, r.user_id, r.user_id),
        )

    def mark_read(self, *, scope: Scope, user_id: int, ticket_id: int) -> dict[str, Any]:
        with self.db.transaction() as s:
            seq = self.r.visible_id(s, scope, ticket_id, tickets.c.unread_seq)
            self.r.set_read(s, ticket_id, user_id, seq)
        return {"ticket_id": ticket_id, "unread": False}

    def mark_unread(self, *, scope: Scope, user_id: int, ticket_id: int) -> dict[str, Any]:
        with self.db.transaction() as s:
            self.r.visible_id(s, scope, ticket_id)
            s.execute(delete(reads).where(reads.c.ticket_id == ticket_id, reads.c.user_id == user_id))
        return {"ticket_id": ticket_id, "unread": True}

    def customer_message_received(self, *, scope: Scope, ticket_id: int, event_id: str | None = None) -> bool:
        """A new customer message: the ticket becomes unread for everyone and moves up the lists.

        Ready to back an event subscription: with ``event_id`` the effect is recorded as
        processed in the same transaction, and a redelivery changes nothing (returns False).
        """
        with self.db.transaction() as s:
            if event_id and already_processed(s, processed_events, event_id, CUSTOMER_MESSAGE_HANDLER):
                return False
            self.r.visible_id(s, scope, ticket_id)
            s.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(unread_seq=tickets.c.unread_seq + 1, updated_at=self.r.clock.now())
            )
            self.r.restamp_follows(s, [ticket_id])
            if event_id:
                mark_processed(s, processed_events, event_id, CUSTOMER_MESSAGE_HANDLER, clock=self.r.clock)
            return True

    def message_added(
        self,
        *,
        event_id: str,
        ticket_id: int,
        thread_id: int,
        message_id: int,
        kind: str,
        author_id: int | None,
        auto: str | None,
        at: dt.datetime,
    ) -> bool:
        """A message on one of the ticket's threads (the conversations service's event), applied once.

        What it does is the domain's to decide (:func:`message_effect`): unread for everyone
        and moved up the lists for a customer's message, reply times, and the replier as
        owner of an unassigned ticket; a closed ticket whose customer writes again reopens, by the
        system (actor 0), in its pipeline's first open stage (:func:`reopening_stage`); and a
        timeline entry (:func:`message_entry`) by its author (the system's id, 0, for a
        customer's). A ticket that is gone (deleted, unknown) changes nothing. Returns False for a
        redelivered event.
        """
        now = self.r.clock.now()
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, MESSAGE_ADDED_HANDLER):
                return False
            mark_processed(s, processed_events, event_id, MESSAGE_ADDED_HANDLER, clock=self.r.clock)
            facts = select(
                tickets.c.owner_id,
                tickets.c.first_reply_at,
                tickets.c.merged_into_id,
                tickets.c.closed_at,
                tickets.c.pipeline_id,
            )
            row = s.execute(facts.where(tickets.c.id == ticket_id, queries.live())).first()
            if row is not None and row.merged_into_id is not None:  # its thread is moving to the survivor
                ticket_id = row.merged_into_id
                row = s.execute(facts.where(tickets.c.id == ticket_id, queries.live())).first()
            if row is None:
                return True
            entry = message_entry(thread_id=thread_id, message_id=message_id, kind=kind, auto=auto)
            self.r.write_entries(s, ticket_id, Change(entries=(entry,)), author_id or SYSTEM_ACTOR, now)
            effect = message_effect(
                owner_id=row.owner_id,
                first_reply_at=row.first_reply_at,
                kind=kind,
                author_id=author_id,
                auto=auto,
                at=at,
                closed=row.closed_at is not None,
            )
            values = dict(effect.values)
            if effect.unread:
                values.update(unread_seq=tickets.c.unread_seq + 1, updated_at=now)
            if values:
                s.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))
                self.r.restamp_follows(s, [ticket_id])
            if effect.assign_to is not None:
                ticket = self.r.locked(s, EVERYTHING, ticket_id)
                change = ticket.change(
                    actor_id=effect.assign_to, requested={"owner_id": effect.assign_to}, stage=None, now=now
                )
                self.r.save(s, ticket, change, effect.assign_to, now)
            reopen_to = reopening_stage(self.r.config.current(s), row.pipeline_id) if effect.reopen else None
            if reopen_to is not None:
                ticket = self.r.locked(s, EVERYTHING, ticket_id)
                change = ticket.change(actor_id=SYSTEM_ACTOR, requested={}, stage=reopen_to, now=now)
                self.r.save(s, ticket, change, SYSTEM_ACTOR, now)
            if auto is None and kind in ("customer", "reply"):
                self.slas.refresh(s, ticket_id, now, message=(kind, at))
            return True

    def thread_moved(
        self,
        *,
        event_id: str,
        thread_id: int,
        from_location: str,
        to_location: str,
        left: int | None,
        joined: int | None,
        actor_id: int,
    ) -> bool:
        """A thread moved between the inbox and the help desk (the conversations service's event),
        applied once: a timeline entry (:func:`thread_move_entry`) on the ticket it ``left`` and on
        the one it ``joined``, those of them that are live (an absorbed one's goes to its
        survivor). Returns False for a redelivered event."""
        now = self.r.clock.now()
        with self.db.transaction() as s:
            if already_processed(s, processed_events, event_id, THREAD_MOVED_HANDLER):
                return False
            mark_processed(s, processed_events, event_id, THREAD_MOVED_HANDLER, clock=self.r.clock)
            entry = thread_move_entry(
                thread_id=thread_id,
                from_location=from_location,
                to_location=to_location,
                left=left,
                joined=joined,
            )
            rows = s.execute(
                select(tickets.c.id, tickets.c.merged_into_id).where(
                    tickets.c.id.in_([t for t in (left, joined) if t is not None]), queries.live()
                )
            ).all()
            for ticket_id in sorted({row.merged_into_id or row.id for row in rows}):
                self.r.write_entries(s, ticket_id, Change(entries=(entry,)), actor_id, now)
            return True

    def visible(self, *, scope: Scope, ticket_ids: list[int], closed: bool | None = None) -> list[int]:
        """Which of ``ticket_ids`` are live and in ``scope`` (how other services check access);
        with ``closed``, only those that are (True) or are not (False) closed. An absorbed ticket
        is in ``scope`` when its survivor is (:func:`services.tickets.store.base.absent`)."""
        if not ticket_ids:
            return []
        query = select(tickets.c.id).where(
            tickets.c.id.in_(ticket_ids), queries.live(), queries.visible_or_survivor_visible(scope)
        )
        if closed is not None:
            query = query.where(tickets.c.closed_at.is_not(None) if closed else tickets.c.closed_at.is_(None))
        with self.db.read() as s:
            return sorted(s.scalars(query))

    def audience_facts(
        self, *, ticket_id: int, as_of: dt.datetime | None = None
    ) -> tuple[dict[str, Any], list[int]]:
        """The live ticket's ``id``, ``name`` and ``owner_id``, and the ids of its followers (those
        who followed by ``as_of``, when given: the moment of the change to tell them about);
        NotFound when it is gone."""
        (found,) = self.audiences_facts([(ticket_id, as_of)])
        if found is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        return found

    def audiences_facts(
        self, questions: Sequence[tuple[int, dt.datetime | None]]
    ) -> list[tuple[dict[str, Any], list[int]] | None]:
        """:meth:`audience_facts` of each ``(ticket_id, as_of)``, in one read of two statements;
        None for a ticket that is gone."""
        ids = sorted({ticket_id for ticket_id, _as_of in questions})
        if not ids:
            return []
        with self.db.read() as s:
            found = {row.id: row for row in s.execute(_AUDIENCE_TICKETS, {"ticket_ids": ids})}
            follows: dict[int, list[tuple[int, dt.datetime]]] = {}
            if found:
                for follow in s.execute(_AUDIENCE_FOLLOWERS, {"ticket_ids": sorted(found)}):
                    follows.setdefault(follow.ticket_id, []).append(
                        (follow.user_id, aware(follow.created_at))
                    )
        answers: list[tuple[dict[str, Any], list[int]] | None] = []
        for ticket_id, as_of in questions:
            ticket = found.get(ticket_id)
            if ticket is None:
                answers.append(None)
                continue
            by = aware(as_of) if as_of is not None else None
            follower_ids = [uid for uid, since in follows.get(ticket_id, ()) if by is None or since <= by]
            answers.append(
                ({"id": ticket.id, "name": ticket.name, "owner_id": ticket.owner_id}, follower_ids)
            )
        return answers

    def in_scopes(self, *, ticket_ids: list[int], scopes: Sequence[Scope]) -> list[list[int]]:
        """For each of ``scopes``, which of ``ticket_ids`` exist and are in it, one query per
        distinct scope. The recycle bin counts (a client hears of a deletion it could see)."""
        answers: dict[Scope, list[int]] = {}
        if ticket_ids:
            with self.db.read() as s:
                for scope in set(scopes):
                    answers[scope] = sorted(
                        s.scalars(
                            select(tickets.c.id).where(tickets.c.id.in_(ticket_ids), queries.visible(scope))
                        )
                    )
        return [answers.get(scope, []) for scope in scopes]

    def timeline(self, *, scope: Scope, ticket_id: int, limit: int, cursor: str | None) -> dict[str, Any]:
        """The ticket's activity, newest first, paginated."""
        with self.db.read() as s:
            self.r.visible_id(s, scope, ticket_id)
            query = select(timeline).where(timeline.c.ticket_id == ticket_id)
            if cursor:
                _key, before = paging.read_keyset(cursor, TIMELINE_SORT, int)
                query = query.where(timeline.c.id < before)
            rows = s.execute(query.order_by(timeline.c.id.desc()).limit(limit + 1)).all()
            total = s.scalar(
                select(func.count()).select_from(timeline).where(timeline.c.ticket_id == ticket_id)
            )
        return paging.page(
            rows,
            limit,
            total or 0,
            lambda r: {
                "id": r.id,
                "type": r.type,
                "actor_id": r.actor_id,
                "at": isoformat(r.at),
                "field": r.field,
                "old": from_json(r.old),
                "new": from_json(r.new),
            },
            lambda r: paging.keyset_cursor(TIMELINE_SORT, r.id, r.id),
        )
