"""Idempotency keys of the conversations service's creates (beside intake's, in
test_conversations_inbound): a sender rule asked for again with the same key answers the first rule,
marked for the gateway's ``Idempotent-Replayed``, and the same key with another body is a Conflict."""

from __future__ import annotations

import pytest

from services.chassis.errors import Conflict, ValidationFailed
from services.chassis.idempotency import REPLAYED
from tests.service.conversations_harness import ACCOUNT, Conversations

pytestmark = pytest.mark.db


def test_a_sender_rule_replayed_answers_the_first_rule(conversations: Conversations) -> None:
    admin = conversations.as_(ACCOUNT)
    body = {"pattern": "@spam.example", "action": "deny"}
    first = admin.add_sender_rule(body, idempotency_key="rule-1")
    assert REPLAYED not in first
    assert admin.add_sender_rule(body, idempotency_key="rule-1") == {**first, REPLAYED: True}
    with pytest.raises(Conflict):
        admin.add_sender_rule({**body, "action": "allow"}, idempotency_key="rule-1")
    with pytest.raises(ValidationFailed) as caught:  # without the key it is a second rule
        admin.add_sender_rule(body, idempotency_key="rule-2")
    assert list(caught.value.errors) == ["pattern"]
    assert admin.list_sender_rules({})["total"] == 1
