"""The per-ticket text index: what reply recommendations and the ticket search ``q`` search, and
what suggestions read.

Each ticket with a conversation has one document in ``search_docs``: the stems
(:mod:`services.chassis.words`) of what its customers wrote (subjects included) and of what
agents answered, and its ``words``: every distinct word and address of the conversation, notes
included, which ``matching_tickets`` looks the terms of a ``q`` up in. The stems' retrieval is
the database's own full-text search: SQLite's FTS5 (``search_fts``, BM25 with the problem
weighted over the answers) or PostgreSQL's ``tsvector`` with a GIN index (``ts_rank``,
weights A and B, times each stem's inverse document frequency). ``search_terms`` counts the
documents holding each stem, so a search uses the query's telling stems and leaves out those
half the index holds: a query touches a bounded number of documents whatever the size of the
index. Documents are rebuilt from the messages whenever a ticket's conversation changes (the
service's own ``message_added``, ``thread_attached`` and ``thread_moved`` events), so a rebuild
is idempotent and the index can always be recomputed from the messages. ``resolved`` follows
the tickets service's ``ticket_closed`` / ``ticket_reopened`` events.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, and_, bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.chassis.db import LIKE_ESCAPE, like_text
from services.chassis.prepared import Prepared
from services.chassis.words import document_words, is_address, language, terms
from services.conversations.models import messages, search_docs, search_senders, search_terms, threads
from services.conversations.store.base import Records

MAX_DOC_TERMS = 3000
"""Stems kept per document part (a very long conversation is indexed by its beginning)."""
MAX_DOC_WORDS = 5000
"""Distinct words kept per document for ``q`` (a very long conversation is searched by its beginning)."""
MAX_QUERY_STEMS = 500
QUERY_BUDGET = 10_000
"""How many documents a search may touch: the sum of its stems' document counts (rarest first)."""
MIN_QUERY_TERMS, MAX_QUERY_TERMS = 5, 10
QUORUM_TERMS = 4
"""A search first asks for documents sharing two of the query's four most telling stems."""
ENOUGH = 3
"""Fewer hits than this (or than asked for) and the search widens to any one stem, within budget."""
PROBLEM_WEIGHT, ANSWER_WEIGHT = 1.0, 0.4
DOCUMENTS = ""
"""The ``search_terms`` row that counts the documents (no stem is empty)."""


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


def query_terms(conversation: Conversation) -> tuple[list[str], str]:
    """The stems a search for tickets like this one starts from (what its customers wrote, repeats
    kept), and their language."""
    lang = language(conversation.customer_text)
    return terms(conversation.customer_text, lang)[:MAX_QUERY_STEMS], lang


def idf(docs: int, total: int) -> float:
    """BM25's inverse document frequency of a stem found in ``docs`` of ``total`` documents."""
    return math.log(1.0 + (total - docs + 0.5) / (docs + 0.5))


def telling_terms(stems: Sequence[str], docs: Mapping[str, int], total: int) -> list[tuple[str, float]]:
    """The query's stems the index holds, most telling first (repeated in the query, rare in the
    index), with their weights; a stem in more than half the documents tells nothing."""
    counted = Counter(stems)
    known = [t for t in counted if 0 < docs.get(t, 0) <= max(1, total // 2)]
    weighted = [(t, counted[t] * idf(docs[t], total)) for t in known]
    return sorted(weighted, key=lambda item: (-item[1], item[0]))


def choose_terms(stems: Sequence[str], docs: Mapping[str, int], total: int) -> list[tuple[str, float]]:
    """The stems an any-of search uses: the most telling while the documents they touch stay within
    :data:`QUERY_BUDGET`; at least :data:`MIN_QUERY_TERMS`, at most :data:`MAX_QUERY_TERMS`."""
    chosen: list[tuple[str, float]] = []
    touched = 0
    for term, weight in telling_terms(stems, docs, total):
        if len(chosen) >= MAX_QUERY_TERMS:
            break
        if len(chosen) >= MIN_QUERY_TERMS and touched + docs[term] > QUERY_BUDGET:
            continue
        chosen.append((term, weight))
        touched += docs[term]
    return chosen


def pairs(terms_: Sequence[str]) -> list[tuple[str, str]]:
    """Every two of ``terms_``: a document matching any pair shares at least two of them."""
    return [(a, b) for i, a in enumerate(terms_) for b in terms_[i + 1 :]]


def upsert(s: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT (both SQLite and PostgreSQL have it)."""
    return postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert


class Search:
    """The text index; each public method is one transaction."""

    def __init__(self, records: Records) -> None:
        self.r = records
        self.db = records.db

    def conversation(self, *, ticket_id: int) -> Conversation:
        with self.db.read() as s:
            return self._conversation(s, ticket_id)

    def _conversation(self, s: Session, ticket_id: int) -> Conversation:
        live = _live(ticket_id)
        subjects = tuple(s.scalars(select(threads.c.subject).where(live).order_by(threads.c.id)))
        rows = s.execute(
            select(messages.c.kind, messages.c.text)
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(live, messages.c.auto.is_(None), messages.c.kind.in_(("customer", "reply")))
            .order_by(messages.c.id)
        ).all()
        return Conversation(subjects, tuple((r.kind, r.text) for r in rows))

    def _searched(self, s: Session, ticket_id: int) -> tuple[str, set[str]]:
        """What ``q`` searches in a ticket's conversation: its words (:func:`document_words` of its
        threads' subjects and customers' addresses and of every message a person wrote, customer,
        reply or note, automatic mail left out, with its sender's address) and its senders'
        addresses (the threads' customers and whoever wrote a customer message), lower-cased."""
        live = _live(ticket_id)
        heads = s.execute(
            select(threads.c.subject, threads.c.customer_email).where(live).order_by(threads.c.id)
        ).all()
        rows = s.execute(
            select(messages.c.kind, messages.c.from_email, messages.c.text)
            .join(threads, threads.c.id == messages.c.thread_id)
            .where(live, messages.c.auto.is_(None))
            .order_by(messages.c.id)
        ).all()
        texts = [f"{row.subject} {row.customer_email}" for row in heads]
        texts += [f"{row.from_email or ''} {row.text}" for row in rows]
        senders = {row.customer_email.lower() for row in heads}
        senders |= {row.from_email.lower() for row in rows if row.kind == "customer" and row.from_email}
        return document_words(texts, limit=MAX_DOC_WORDS), {a for a in senders if is_address(a)}

    def _keep_senders(self, s: Session, ticket_id: int, senders: set[str]) -> None:
        s.execute(search_senders.delete().where(search_senders.c.ticket_id == ticket_id))
        if senders:
            s.execute(
                search_senders.insert(), [{"address": a, "ticket_id": ticket_id} for a in sorted(senders)]
            )

    def matching_tickets(self, *, terms: Sequence[str], limit: int) -> list[int]:
        """Tickets whose conversation holds every one of ``terms`` (pieces of lower-case text, see
        :func:`services.chassis.words.search_terms`), at most ``limit`` of them: those whose
        conversation changed last.

        A term that is a whole e-mail address is looked up among the senders' addresses
        (``search_senders``, exact, by its primary key). Any other is one ``LIKE '%term%'`` on
        ``search_docs.words``: a rare one is found in the column's trigram index on PostgreSQL, a
        common one soon, walking the documents from the latest change back
        (``ix_search_docs_recent``); SQLite reads the documents (one short row per ticket with a
        conversation)."""
        if not terms:
            return []
        kinds = tuple(is_address(t) for t in terms)
        values = {
            f"term_{n}": t if address else like_text(t)
            for n, (t, address) in enumerate(zip(terms, kinds, strict=True))
        }
        with self.db.read() as s:
            return [int(t) for t in _matching(kinds, limit).run(s, values).scalars()]

    def reindex(self, *, ticket_id: int) -> None:
        """Rebuild the ticket's document from its messages, and the stems' counts with it (idempotent)."""
        with self.db.transaction() as s:
            conversation = self._conversation(s, ticket_id)
            found, senders = self._searched(s, ticket_id)
            lang = language(conversation.customer_text + "\n" + conversation.answer_text)
            problem = " ".join(terms(conversation.customer_text, lang)[:MAX_DOC_TERMS])
            answer = " ".join(terms(conversation.answer_text, lang)[:MAX_DOC_TERMS])
            before = s.execute(
                select(search_docs.c.problem_terms, search_docs.c.answer_terms).where(
                    search_docs.c.ticket_id == ticket_id
                )
            ).first()
            old = _stems_of(f"{before.problem_terms} {before.answer_terms}") if before else set()
            new = _stems_of(f"{problem} {answer}")
            values = {"problem_terms": problem, "answer_terms": answer, "language": lang, "words": found}
            self._upsert(s, ticket_id, values)
            self._keep_senders(s, ticket_id, senders)
            self._count(s, old, new)

    def _count(self, s: Session, old: set[str], new: set[str]) -> None:
        """Move the stems' document counts from ``old`` to ``new`` (sorted: no two rebuilds deadlock)."""
        changes = {t: 1 for t in new - old} | {t: -1 for t in old - new}
        if bool(old) != bool(new):
            changes[DOCUMENTS] = 1 if new else -1
        if not changes:
            return
        insert = upsert(s)(search_terms)
        statement = insert.on_conflict_do_update(
            index_elements=[search_terms.c.term], set_={"docs": search_terms.c.docs + insert.excluded.docs}
        )
        s.execute(statement, [{"term": t, "docs": changes[t]} for t in sorted(changes)])

    def set_resolved(self, *, ticket_id: int, resolved: bool) -> None:
        """The ticket was closed (or reopened); a document not built yet is started empty."""
        with self.db.transaction() as s:
            self._upsert(s, ticket_id, {"resolved": resolved})

    def _upsert(self, s: Session, ticket_id: int, values: dict[str, Any]) -> None:
        now = self.r.clock.now()
        row = s.execute(select(search_docs.c.ticket_id).where(search_docs.c.ticket_id == ticket_id)).first()
        if row is None:
            defaults = {
                "problem_terms": "",
                "answer_terms": "",
                "language": "en",
                "resolved": False,
                "words": "",
            }
            s.execute(
                search_docs.insert().values(ticket_id=ticket_id, **{**defaults, **values}, updated_at=now)
            )
        else:
            s.execute(
                search_docs.update()
                .where(search_docs.c.ticket_id == ticket_id)
                .values(**values, updated_at=now)
            )

    def similar(self, *, stems: Sequence[str], lang: str, exclude: int, limit: int) -> list[Hit]:
        """Resolved tickets in ``lang`` whose documents match ``stems`` best, most relevant first
        (a Polish ticket is answered from Polish tickets: replies are recommended to be sent).

        SQLite ranks with FTS5's BM25; PostgreSQL with ``ts_rank`` of each chosen stem weighted
        by its inverse document frequency (``ts_rank`` alone knows no document frequencies).
        """
        with self.db.read() as s:
            wanted = sorted(set(stems) | {DOCUMENTS})
            counts = dict(
                s.execute(
                    select(search_terms.c.term, search_terms.c.docs).where(search_terms.c.term.in_(wanted))
                ).all()
            )
            total = max(1, counts.get(DOCUMENTS, 0))
            telling = telling_terms(stems, counts, total)[:QUORUM_TERMS]
            postgres = s.get_bind().dialect.name == "postgresql"
            rows: Sequence[Any] = []
            if len(telling) >= 2:  # documents sharing two telling stems: few, whatever the index's size
                statement, values = (_pg_similar if postgres else _sqlite_similar)(telling, quorum=True)
                rows = s.execute(statement, {**values, "lang": lang, "exclude": exclude, "k": limit}).all()
            if len(rows) < min(limit, ENOUGH):
                chosen = choose_terms(stems, counts, total)
                if not chosen:
                    return []
                statement, values = (_pg_similar if postgres else _sqlite_similar)(chosen, quorum=False)
                rows = s.execute(statement, {**values, "lang": lang, "exclude": exclude, "k": limit}).all()
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


def _live(ticket_id: int) -> Any:
    """The ticket's threads that count: in the help desk, neither deleted nor spam."""
    return and_(
        threads.c.ticket_id == ticket_id,
        threads.c.deleted_at.is_(None),
        threads.c.spam_at.is_(None),
        threads.c.location == "helpdesk",
    )


def _stems_of(text_: str) -> set[str]:
    return set(text_.split())


def _sqlite_similar(chosen: Sequence[tuple[str, float]], *, quorum: bool) -> tuple[Any, dict[str, Any]]:
    """The FTS5 search for ``chosen`` stems: any two of them (``quorum``), or any of them."""
    names = [t for t, _w in chosen]
    if quorum:
        match = " OR ".join(f'("{a}" AND "{b}")' for a, b in pairs(names))
    else:
        match = " OR ".join(f'"{t}"' for t in names)
    return SQLITE_SIMILAR, {"q": match}


def _pg_similar(chosen: Sequence[tuple[str, float]], *, quorum: bool) -> tuple[Any, dict[str, Any]]:
    """The PostgreSQL search for ``chosen`` stems: any two of them (``quorum``) or any of them
    matches (the GIN index finds them), each weighing its idf in the rank.

    The queries are parsed once (a one-row subquery), not once per matching document.
    """
    names = [t for t, _w in chosen]
    if quorum:
        match = " | ".join(f"('{a}' & '{b}')" for a, b in pairs(names))
    else:
        match = " | ".join(f"'{t}'" for t in names)
    values: dict[str, Any] = {"q": match}
    parsed, parts = ["to_tsquery('simple', :q) AS q"], []
    for i, (term, weight) in enumerate(chosen):
        values[f"t{i}"], values[f"w{i}"] = f"'{term}'", weight
        parsed.append(f"to_tsquery('simple', :t{i}) AS q{i}")
        parts.append(f"CAST(:w{i} AS float8) * ts_rank(d.tsv, p.q{i})")
    statement = text(
        f"SELECT d.ticket_id, {' + '.join(parts)} AS score "
        f"FROM search_docs AS d CROSS JOIN (SELECT {', '.join(parsed)}) AS p "
        "WHERE d.tsv @@ p.q AND d.resolved AND d.language = :lang AND d.ticket_id != :exclude "
        "ORDER BY score DESC, d.ticket_id LIMIT :k"
    )
    return statement, values


SQLITE_SIMILAR = text(
    "SELECT d.ticket_id, -bm25(search_fts, :pw, :aw) AS score FROM search_fts "
    "JOIN search_docs d ON d.ticket_id = search_fts.rowid "
    "WHERE search_fts MATCH :q AND d.resolved AND d.language = :lang AND d.ticket_id != :exclude "
    "ORDER BY bm25(search_fts, :pw, :aw) LIMIT :k"
).bindparams(pw=PROBLEM_WEIGHT, aw=ANSWER_WEIGHT)


@functools.lru_cache(maxsize=128)
def _matching(addresses: tuple[bool, ...], limit: int) -> Prepared:
    """:meth:`Search.matching_tickets`' statement for terms that are (True) or are not e-mail
    addresses, built once: the search box asks it for every list searched with ``q``. Its text
    is planned for its words each time (a rare word wants the trigram index, a common one the
    recent documents' order)."""
    conditions: list[ColumnElement[bool]] = []
    for n, address in enumerate(addresses):
        term = bindparam(f"term_{n}", type_=String)
        if address:
            senders = select(search_senders.c.ticket_id).where(search_senders.c.address == term)
            conditions.append(search_docs.c.ticket_id.in_(senders))
        else:
            conditions.append(search_docs.c.words.contains(term, escape=LIKE_ESCAPE))
    statement = (
        select(search_docs.c.ticket_id)
        .where(*conditions)
        .order_by(search_docs.c.updated_at.desc(), search_docs.c.ticket_id.desc())
        .limit(limit)
    )
    return Prepared(statement)
