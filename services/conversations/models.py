"""Tables of the conversations service: threads, messages, attachments, the outgoing mail
queue and sender rules (plus the chassis's outbox, inbox and idempotency tables)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from services.chassis.db import ids_never_reused
from services.chassis.events import define_inbox
from services.chassis.idempotency import define_idempotency
from services.chassis.outbox import Outbox
from services.conversations import contract

metadata = MetaData()

threads = Table(
    "threads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(998), nullable=False, default=""),
    Column("channel", String(10), nullable=False),
    Column("location", String(10), nullable=False),
    Column("ticket_id", Integer, nullable=True),
    Column("previous_ticket_id", Integer, nullable=True),
    Column("ticket_pending", Boolean, nullable=False, default=False),  # waits for its ticket
    Column("attach_seq", Integer, nullable=False, default=0),  # how many tickets it was given
    Column("owner_id", Integer, nullable=True),
    Column("customer_name", String(200), nullable=False, default=""),
    Column("customer_email", String(320), nullable=False),
    Column("message_count", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_message_at", DateTime(timezone=True), nullable=False),
    Column("spam_at", DateTime(timezone=True), nullable=True),
    Column("spam_by", Integer, nullable=True),
    Column("spam_owner_id", Integer, nullable=True),  # its ticket's owner when marked (spam view access)
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Index("ix_threads_ticket", "ticket_id", "id"),
    Index("ix_threads_location_updated", "location", "updated_at", "id"),
    Index("ix_threads_customer", "customer_email"),
)

_PENDING = text("ticket_pending")
Index("ix_threads_pending", threads.c.id, sqlite_where=_PENDING, postgresql_where=_PENDING)

# the spam view and its purge: few threads are spam, so a partial index
_SPAM = text("spam_at IS NOT NULL")
Index("ix_threads_spam", threads.c.spam_at, threads.c.id, sqlite_where=_SPAM, postgresql_where=_SPAM)

ticket_aliases = Table(
    "ticket_aliases",
    metadata,
    Column("absorbed_id", Integer, primary_key=True),  # a ticket merged away...
    Column("ticket_id", Integer, nullable=False, index=True),  # ... lives on as this one
    Column("created_at", DateTime(timezone=True), nullable=False),
)

thread_splits = Table(
    "thread_splits",
    metadata,
    Column("key", String(100), primary_key=True),  # the split job's key: a split is made once
    Column("source_thread_id", Integer, nullable=False),
    Column("thread_id", Integer, nullable=False),
    Column("ticket_id", Integer, nullable=False),
    Column("message_ids", Text, nullable=False),  # JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thread_id", Integer, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("author_id", Integer, nullable=True),
    Column("from_name", String(200), nullable=False, default=""),
    Column("from_email", String(320), nullable=True),
    Column("to_json", Text, nullable=False, default="[]"),
    Column("cc_json", Text, nullable=False, default="[]"),
    Column("subject", String(998), nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("quoted", Text, nullable=False, default=""),
    Column("html", Text, nullable=True),
    Column("email_message_id", String(998), nullable=True),
    Column("in_reply_to", String(998), nullable=True),
    Column("references_json", Text, nullable=False, default="[]"),
    Column("mentions_json", Text, nullable=False, default="[]"),
    Column("auto", String(20), nullable=True),
    Column("delivery_state", String(10), nullable=True),
    Column("delivery_reason", Text, nullable=True),
    Column("delivery_attempts", Integer, nullable=False, default=0),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_messages_thread", "thread_id", "id"),
)

# a Message-ID names one message: a retrying mail server's second delivery is stored once
_HAS_ID = text("email_message_id IS NOT NULL")
Index(
    "ux_messages_email_id",
    messages.c.email_message_id,
    unique=True,
    sqlite_where=_HAS_ID,
    postgresql_where=_HAS_ID,
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(200), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("content_id", String(998), nullable=True),
    Column("inline", Boolean, nullable=False, default=False),
)

outgoing_mail = Table(
    "outgoing_mail",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("mail_from", String(320), nullable=False),
    Column("recipients_json", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("state", String(10), nullable=False),  # queued, sent, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Index("ix_outgoing_due", "state", "next_attempt_at"),
)

sender_rules = Table(
    "sender_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pattern", String(320), nullable=False, unique=True),
    Column("action", String(10), nullable=False),
    Column("created_by", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

search_docs = Table(
    "search_docs",
    metadata,
    # one document per ticket, of stems (domain/text.py): what its customers wrote, what agents answered;
    # the full-text index over them is the database's own (SQLite FTS5 table search_fts kept by
    # triggers, PostgreSQL a generated tsvector column with a GIN index), made by migration 0004
    Column("ticket_id", Integer, primary_key=True, autoincrement=False),
    Column("problem_terms", Text, nullable=False, default=""),
    Column("answer_terms", Text, nullable=False, default=""),
    Column("language", String(2), nullable=False, default="en"),
    Column("resolved", Boolean, nullable=False, default=False),  # the ticket is closed (tickets' events)
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # the conversation's distinct words and addresses, each between spaces, for the ticket search q
    # (store.search.Search.matching_tickets); on PostgreSQL a trigram index (migration 0005)
    Column("words", Text, nullable=False, default=""),
)
Index("ix_search_docs_recent", search_docs.c.updated_at, search_docs.c.ticket_id)

search_senders = Table(
    "search_senders",
    metadata,
    # the senders' addresses of each ticket's conversation (lower-cased), kept with its document:
    # q finds a ticket by a whole address exactly, whatever else its words share (migration 0005)
    Column("address", String(320), primary_key=True),
    Column("ticket_id", Integer, primary_key=True),
    Index("ix_search_senders_ticket", "ticket_id"),
)

search_terms = Table(
    "search_terms",
    metadata,
    # how many documents hold each stem (term "" counts the documents): picks a query's telling
    # stems and weighs them (inverse document frequency); kept with each document's rebuild
    Column("term", String(64), primary_key=True),
    Column("docs", Integer, nullable=False),
)

idempotency = define_idempotency(metadata)
outbox = Outbox(metadata, contract.EVENT_SCHEMAS)
processed_events = define_inbox(metadata)

ids_never_reused(metadata)
