"""Signed identities: only the holder of the secret can make one the services believe."""

from __future__ import annotations

import time

import pytest

from services.chassis.errors import Unauthenticated
from services.chassis.identity import Caller, SystemIdentity, Verifier, _b64, _mac, sign, system_identity
from services.permissions.contract import works_tickets

SECRET = "unit-secret"


def agent(**overrides: object) -> Caller:
    fields: dict[str, object] = {
        "user_id": 7,
        "name": "ana",
        "permissions": frozenset({"service_access"}),
        "access_level": "team",
        "include_unassigned": True,
        "team_ids": (2,),
        "teammate_ids": (7, 9),
        "seat": True,
    }
    fields.update(overrides)
    return Caller(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    caller = Verifier(SECRET).verify(sign(agent(), SECRET))
    assert caller.user_id == 7
    assert caller.permissions == frozenset({"service_access"})
    assert caller.access_level == "team"
    assert caller.include_unassigned is True
    assert caller.teammate_ids == (7, 9)
    assert caller.team_ids == (2,)
    assert caller.seat is True
    assert not caller.is_super_admin


def test_signature_from_another_secret_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="signature"):
        Verifier(SECRET).verify(sign(agent(), "someone-else"))


def test_tampered_payload_is_refused() -> None:
    forged = sign(agent(permissions=frozenset({"super_admin"})), "x").split(".")[0]
    genuine_mac = sign(agent(), SECRET).split(".")[1]
    with pytest.raises(Unauthenticated):
        Verifier(SECRET).verify(f"{forged}.{genuine_mac}")


@pytest.mark.parametrize("value", [None, "", 42, "no-dot-at-all", "a.b.c"])
def test_missing_or_malformed_identity_is_refused(value: object) -> None:
    with pytest.raises(Unauthenticated):
        Verifier(SECRET).verify(value)


def signed(payload: bytes) -> str:
    """A correctly signed assertion around any payload bytes."""
    body = _b64(payload)
    return f"{body}.{_mac(SECRET, body)}"


@pytest.mark.parametrize(
    "value",
    [
        "żółw.żółw",  # not ASCII: hmac refuses to compare it, ascii encoding fails
        "payload.żółw",
        b"bytes.not-text",
        ["a", "list"],
        signed(b"[1, 2]"),  # signed, but not an object
        signed(b"not json"),
        signed(b'{"user_id": "seven"}'),
        signed(b'{"user_id": [7]}'),
        signed(b'{"user_id": 7, "permissions": 5}'),
        signed(b'{"user_id": 7, "expires_at": "soon"}'),
        signed(b'{"user_id": 1e400}'),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_any_malformed_identity_is_unauthenticated_never_another_error(value: object) -> None:
    """Whatever arrives in the header, the answer is Unauthenticated: a TypeError or ValueError
    escaping here would fail the call with a bare error, or kill the worker's container."""
    with pytest.raises(Unauthenticated):
        Verifier(SECRET).verify(value)


def test_expired_identity_is_refused_even_when_cached() -> None:
    verifier = Verifier(SECRET)
    assertion = sign(agent(), SECRET, ttl=0.2)
    assert verifier.verify(assertion).user_id == 7
    time.sleep(0.3)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(assertion)


def test_super_admin_holds_every_permission_and_system_identity_is_super() -> None:
    admin = agent(permissions=frozenset({"super_admin"}))
    assert admin.has("delete_tickets") and works_tickets(admin) and admin.has_seat
    system = Verifier(SECRET).verify(system_identity("retention", SECRET))
    assert system.system and system.is_super_admin and system.user_id == 0


def test_ticket_work_needs_service_or_sales_access() -> None:
    assert works_tickets(agent(permissions=frozenset({"sales_access"})))
    assert not works_tickets(agent(permissions=frozenset({"account_access"})))


def test_a_system_identity_is_reused_while_it_has_half_its_life_left(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("services.chassis.identity.time.time", lambda: clock[0])
    identity = SystemIdentity("notifications", SECRET, ttl=60.0)
    first = identity()
    clock[0] += 29.9
    assert identity() == first, "signed once per half lifetime, not per call"
    clock[0] += 0.2
    renewed = identity()
    assert renewed != first
    caller = Verifier(SECRET).verify(renewed)
    assert caller.system and caller.expires_at - clock[0] >= 30.0
