"""The per-ticket text index: what reply recommendations search, and what suggestions read.

Each ticket with a conversation has one document in ``search_docs``: the stems
(:mod:`services.conversations.domain.text`) of what its customers wrote (subjects included)
and of what agents answered. The retrieval is the database's own full-text search: SQLite's
FTS5 (``search_fts``, BM25 with the problem weighted over the answers) or PostgreSQL's
``tsvector`` with a GIN index (``ts_rank``, weights A and B). Documents are rebuilt from the
messages whenever a ticket's conversation changes (the service's own ``message_added``,
``thread_attached`` and ``thread_moved`` events), so a rebuild is idempotent and the index
can always be recomputed from the messages. ``resolved`` follows the tickets service's
``ticket_closed`` / ``ticket_reopened`` events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, text
from sqlalchemy.orm import Session

from services.conversations.domain.text import language, terms
from services.conversations.models import messages, search_docs, threads
from services.conversations.store.base import Records

MAX_DOC_TERMS = 3000
"""Stems kept per document part (a very long conversation is indexed by its beginning)."""
QUERY_TERMS = 12
"""How many of the query ticket's stems a search uses: the ones it repeats most."""
PROBLEM_WEIGHT, ANSWER_WEIGHT = 1.0, 0.4


@dataclass(frozen=True)
class Conversation:
    """A ticket's conversation as suggestions and searches read it: ``(kind, text)`` messages in
    order (automatic mail left out) and its threads' subjects."""

    subjects: tuple[str, ...]
    messages: tuple[tuple[str, str], ...]

    @property
    def customer_text(self) -> str:
        return "\n".join([*self.subjects, *(t for kind, t in self.messages if kind == "customer")])

    @property
    def answer_text(self) -> str:
        return "\n".join(t for kind, t in self.messages if kind == "reply")


@dataclass(frozen=True)
class Hit:
    ticket_id: int
    score: float


def query_terms(conversation: Conversation, limit: int = QUERY_TERMS) -> list[str]:
    """The stems a search for tickets like this one uses: its customers' most repeated ones."""
    counted = Counter(terms(conversation.customer_text))
    return [term for term, _n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:limit]]


class Search:
    """The text index; each public method is one transaction."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def conversation(self, *, ticket_id: int) -> Conversation:
        with self.db.read() as s:
            return self._conversation(s, ticket_id)

    def _conversation(self, s: Session, ticket_id: int) -> Conversation:
        live = and_(
            threads.c.ticket_id == ticket_id,
            threads.c.deleted_at.is_(None),
            threads.c.spam_at.is_(None),
            threads.c.location == "helpdesk",
        )
        subjects = tuple(s.scalars(select(threads.c.subject).where(live).order_by(threads.c.id)))
        rows = s.execute(
            select(messages.c.kind, messages.c.text)
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(live, messages.c.auto.is_(None), messages.c.kind.in_(("customer", "reply")))
            .order_by(messages.c.id)
        ).all()
        return Conversation(subjects, tuple((r.kind, r.text) for r in rows))

    def reindex(self, *, ticket_id: int) -> None:
        """Rebuild the ticket's document from its messages (idempotent)."""
        with self.db.transaction() as s:
            conversation = self._conversation(s, ticket_id)
            lang = language(conversation.customer_text + "\n" + conversation.answer_text)
            problem = " ".join(terms(conversation.customer_text, lang)[:MAX_DOC_TERMS])
            answer = " ".join(terms(conversation.answer_text, lang)[:MAX_DOC_TERMS])
            self._upsert(s, ticket_id, {"problem_terms": problem, "answer_terms": answer, "language": lang})

    def set_resolved(self, *, ticket_id: int, resolved: bool) -> None:
        """The ticket was closed (or reopened); a document not built yet is started empty."""
        with self.db.transaction() as s:
            self._upsert(s, ticket_id, {"resolved": resolved})

    def _upsert(self, s: Session, ticket_id: int, values: dict[str, Any]) -> None:
        now = self.r.clock.now()
        row = s.execute(select(search_docs.c.ticket_id).where(search_docs.c.ticket_id == ticket_id)).first()
        if row is None:
            defaults = {"problem_terms": "", "answer_terms": "", "language": "en", "resolved": False}
            s.execute(
                search_docs.insert().values(ticket_id=ticket_id, **{**defaults, **values}, updated_at=now)
            )
        else:
            s.execute(
                search_docs.update()
                .where(search_docs.c.ticket_id == ticket_id)
                .values(**values, updated_at=now)
            )

    def similar(self, *, stems: Sequence[str], exclude: int, limit: int) -> list[Hit]:
        """Resolved tickets whose documents match ``stems`` best, most relevant first."""
        wanted = [t for t in dict.fromkeys(stems) if t]
        if not wanted:
            return []
        with self.db.read() as s:
            if s.get_bind().dialect.name == "postgresql":
                query = " | ".join(f"'{t}'" for t in wanted)
                rows = s.execute(PG_SIMILAR, {"q": query, "exclude": exclude, "k": limit})
            else:
                match = " OR ".join(f'"{t}"' for t in wanted)
                rows = s.execute(SQLITE_SIMILAR, {"q": match, "exclude": exclude, "k": limit})
            return [Hit(int(r.ticket_id), round(float(r.score), 4)) for r in rows]

    def last_replies(self, *, ticket_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        """Each ticket's last agent reply that was not refused: ``ticket id -> (message id, text)``."""
        if not ticket_ids:
            return {}
        with self.db.read() as s:
            rows = s.execute(
                select(threads.c.ticket_id, messages.c.id, messages.c.text)
                .join(threads, threads.c.id == messages.c.thread_id)
                .where(
                    threads.c.ticket_id.in_(list(ticket_ids)),
                    threads.c.deleted_at.is_(None),
                    messages.c.kind == "reply",
                    messages.c.text != "",
                    (messages.c.delivery_state.is_(None)) | (messages.c.delivery_state != "failed"),
                )
                .order_by(messages.c.id)
            ).all()
        found: dict[int, tuple[int, str]] = {}
        for row in rows:
            found[row.ticket_id] = (row.id, row.text)
        return found


SQLITE_SIMILAR = text(
    "SELECT d.ticket_id, -bm25(search_fts, :pw, :aw) AS score FROM search_fts "
    "JOIN search_docs d ON d.ticket_id = search_fts.rowid "
    "WHERE search_fts MATCH :q AND d.resolved AND d.ticket_id != :exclude "
    "ORDER BY bm25(search_fts, :pw, :aw) LIMIT :k"
).bindparams(pw=PROBLEM_WEIGHT, aw=ANSWER_WEIGHT)

PG_SIMILAR = text(
    "SELECT ticket_id, ts_rank(tsv, q) AS score FROM search_docs, to_tsquery('simple', :q) AS q "
    "WHERE tsv @@ q AND resolved AND ticket_id != :exclude ORDER BY score DESC, ticket_id LIMIT :k"
)
