"""The one paging convention: page query, sorts, cursors and page bodies (moved here from the
tickets and permissions tests when both started using the chassis's)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from services.chassis.errors import ValidationFailed
from services.chassis.keyset import keyset_page
from services.chassis.paging import (
    MAX_CURSOR_LENGTH,
    PageBody,
    PageQuery,
    Sort,
    decode_cursor,
    encode_cursor,
    keyset_cursor,
    page,
    page_schema,
    read_keyset,
    sort_options,
)
from services.chassis.schema import load

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
T1 = T0 + dt.timedelta(hours=1)
KEYS = ("created_at", "updated_at", "priority", "name", "id")
KINDS = {"created_at": dt.datetime, "updated_at": dt.datetime, "priority": int, "name": str, "id": int}


# -- page query ------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["1", 1.0, True, "25"])
def test_a_page_asked_in_a_body_takes_json_integers_only(limit: object) -> None:
    assert load(PageBody(), {"limit": 1}) == {"limit": 1, "cursor": None}
    with pytest.raises(ValidationFailed) as caught:
        load(PageBody(), {"limit": limit})
    assert list(caught.value.errors) == ["limit"]


def test_page_query_defaults() -> None:
    assert load(PageQuery(), {}) == {"limit": 25, "cursor": None}


@pytest.mark.parametrize("limit", ["1", "25", "100", 1, 100])
def test_page_sizes_within_bounds_pass(limit: object) -> None:
    assert load(PageQuery(), {"limit": limit})["limit"] == int(limit)  # type: ignore[call-overload]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.5", "", True, None, 10**30])
def test_page_sizes_outside_bounds_are_refused_not_clamped(limit: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(PageQuery(), {"limit": limit})
    assert list(caught.value.errors) == ["limit"]


def test_unknown_page_query_fields_are_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load(PageQuery(), {"offset": "3"})
    assert "offset" in caught.value.errors


# -- sorts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", sort_options(KEYS))
def test_every_sort_option_parses_and_prints_back(text: str) -> None:
    assert str(Sort.parse(text, KEYS, "-updated_at")) == text


@pytest.mark.parametrize(
    ("text", "parsed"), [(None, Sort("updated_at", True)), ("", Sort("updated_at", True))]
)
def test_no_sort_means_the_default(text: str | None, parsed: Sort) -> None:
    assert Sort.parse(text, KEYS, "-updated_at") == parsed


@pytest.mark.parametrize("text", ["-", "owner_id", "--id", "updated", "name-", "password"])
def test_unknown_sorts_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        Sort.parse(text, KEYS, "-updated_at")
    assert list(exc.value.errors) == ["sort"]


# -- cursors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "key"),
    [("-updated_at", T0), ("created_at", T1), ("priority", 3), ("-name", "zürich + co/=x"), ("id", 42)],
)
def test_keyset_cursor_round_trip(sort: str, key: object) -> None:
    order = Sort.parse(sort, KEYS, "id")
    cursor = keyset_cursor(order, key, 17)
    assert read_keyset(cursor, order, KINDS[order.key]) == (key, 17)


def test_cursors_are_url_safe() -> None:
    cursor = keyset_cursor("-name", "???>>>~~~" * 20, 2**40)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_cursors_in_the_earlier_standard_base64_still_decode() -> None:
    legacy = base64.b64encode(json.dumps({"s": "-name", "k": "???>>>", "i": 5}).encode()).decode()
    assert "+" in legacy or "/" in legacy or "=" in legacy
    assert read_keyset(legacy, "-name", str) == ("???>>>", 5)


def test_a_naive_datetime_is_read_as_utc() -> None:
    cursor = keyset_cursor("-created_at", T0.replace(tzinfo=None), 3)
    assert read_keyset(cursor, "-created_at", dt.datetime) == (T0, 3)


def test_another_offset_comes_back_in_utc() -> None:
    paris = T0.astimezone(dt.timezone(dt.timedelta(hours=1)))
    key, _ = read_keyset(keyset_cursor("updated_at", paris, 3), "updated_at", dt.datetime)
    assert key == T0 and key.utcoffset() == dt.timedelta(0)


def _raw(data: object) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%%%",
        "",
        "ąę",
        "x" * (MAX_CURSOR_LENGTH + 1),
        base64.b64encode(b"\xff\xfe").decode(),
        _raw([1, 2]),
        _raw({"s": "-updated_at", "k": "2026-01-01T00:00:00+00:00"}),
        _raw({"s": "-updated_at", "k": "yesterday", "i": 1}),
        _raw({"s": "-updated_at", "k": "2026-01-01T00:00:00", "i": 1}),  # no offset
        _raw({"s": "-updated_at", "k": "2026-01-01T00:00:00+00:00", "i": "1"}),
        _raw({"s": "-updated_at", "k": "2026-01-01T00:00:00+00:00", "i": 2**64}),
        _raw({"s": "-updated_at", "k": 5, "i": 1}),
        _raw("[" * 5000 + "]" * 5000),
    ],
)
def test_garbage_cursors_are_a_422_on_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        read_keyset(cursor, "-updated_at", dt.datetime)
    assert list(exc.value.errors) == ["cursor"]


def test_deeply_nested_json_in_a_cursor_is_a_422() -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(encode_cursor("x")[:0] + base64.urlsafe_b64encode(b"[" * 100_000).decode()[:1000])


def test_a_cursor_only_resumes_its_own_sort() -> None:
    cursor = keyset_cursor("priority", 2, 5)
    for other in ("-priority", "id"):
        with pytest.raises(ValidationFailed):
            read_keyset(cursor, other, int)


def test_a_cursor_only_serves_the_list_that_issued_it() -> None:
    users = keyset_cursor("-id", 9, 9, scope="users")
    assert read_keyset(users, "-id", int, scope="users") == (9, 9)
    for other in ("teams", None):
        with pytest.raises(ValidationFailed) as caught:
            read_keyset(users, "-id", int, scope=other)
        assert caught.value.errors == {"cursor": ["was issued by another list"]}
    with pytest.raises(ValidationFailed):  # a list that names itself refuses a cursor naming none
        read_keyset(keyset_cursor("-id", 9, 9), "-id", int, scope="users")
    with pytest.raises(ValidationFailed):  # nor a forged name of another type
        read_keyset(encode_cursor({"s": "-id", "k": 9, "i": 9, "l": 5}), "-id", int, scope="users")


def test_a_keyset_page_names_its_table_in_its_cursors() -> None:
    metadata = sa.MetaData()
    tables = [
        sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True)) for name in ("users", "teams")
    ]
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as s:
        for table in tables:
            s.execute(table.insert(), [{"id": i} for i in range(1, 6)])

        def first(table: sa.Table, cursor: str | None = None) -> dict[str, object]:
            return keyset_page(
                s,
                sa.select(table.c.id),
                key=table.c.id,
                ident=table.c.id,
                sort=Sort("id", descending=True),
                limit=2,
                cursor=cursor,
                item=lambda row: row.id,
            )

        users, teams = tables
        cursor = first(users)["next_cursor"]
        assert isinstance(cursor, str) and decode_cursor(cursor)["l"] == "users"
        assert first(users, cursor)["items"] == [3, 2]
        with pytest.raises(ValidationFailed) as caught:
            first(teams, cursor)
        assert list(caught.value.errors) == ["cursor"]


@pytest.mark.parametrize(
    ("sort", "key", "kind"),
    [("name", 5, str), ("priority", "high", int), ("id", True, int), ("id", 1.5, int)],
)
def test_cursor_key_of_the_wrong_type_is_refused(sort: str, key: object, kind: type) -> None:
    with pytest.raises(ValidationFailed):
        read_keyset(_raw({"s": sort, "k": key, "i": 1}), sort, kind)


@given(
    sort=st.sampled_from(sort_options(KEYS)),
    row_id=st.integers(min_value=1, max_value=2**62),
    text=st.text(max_size=40),
    number=st.integers(min_value=0, max_value=3),
    moment=st.datetimes(timezones=st.just(UTC)),
)
def test_any_cursor_round_trips(sort: str, row_id: int, text: str, number: int, moment: dt.datetime) -> None:
    order = Sort.parse(sort, KEYS, "id")
    key: object = {"name": text, "priority": number, "id": row_id}.get(order.key, moment)
    assert read_keyset(keyset_cursor(order, key, row_id), order, KINDS[order.key]) == (key, row_id)


@given(st.text(max_size=200))
def test_no_text_makes_the_cursor_reader_fail_otherwise_than_with_a_422(text: str) -> None:
    try:
        read_keyset(text, "-updated_at", dt.datetime)
    except ValidationFailed as exc:
        assert list(exc.errors) == ["cursor"]


# -- pages -----------------------------------------------------------------------------------------


def test_page_uses_the_extra_row_only_to_know_there_is_more() -> None:
    rows = [1, 2, 3]
    body = page(rows, 2, 10, lambda r: {"n": r}, lambda r: f"after-{r}")
    assert body == {"items": [{"n": 1}, {"n": 2}], "next_cursor": "after-2", "total": 10}
    assert page(rows, 3, 3, lambda r: r, str)["next_cursor"] is None


class _ItemSchema(Schema):
    n = fields.Integer()


def test_page_schema_is_made_once_per_item_schema() -> None:
    first = page_schema(_ItemSchema)
    assert first is page_schema(_ItemSchema)
    assert first.__name__ == "_ItemPageSchema"
    assert set(first().fields) == {"items", "next_cursor", "total"}


@pytest.mark.parametrize(
    ("value", "sort", "kind"),
    [
        ({"s": "-updated_at", "k": "2026-01-02T03:04:05+00:00", "i": 2**64}, "-updated_at", dt.datetime),
        ({"s": "-priority", "k": 2**70, "i": 1}, "-priority", int),
        ({"s": "-priority", "k": -(2**63) - 1, "i": 1}, "-priority", int),
        ({"s": "-id", "k": 1, "i": -1}, "-id", int),
    ],
    ids=["id-beyond-64-bits", "key-beyond-64-bits", "key-below-64-bits", "negative-id"],
)
def test_cursors_holding_numbers_beyond_64_bits_are_a_422(
    value: dict[str, object], sort: str, kind: type
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        read_keyset(encode_cursor(value), sort, kind)
    assert list(caught.value.errors) == ["cursor"]


def test_cursors_nested_deep_or_with_giant_numbers_are_a_422() -> None:
    deep = base64.urlsafe_b64encode(b"[" * 700 + b"]" * 700).decode()[:MAX_CURSOR_LENGTH]
    giant = base64.urlsafe_b64encode(b"9" * 700).decode()
    for text in (deep, giant):
        with pytest.raises(ValidationFailed):
            read_keyset(text, "-id", int)
