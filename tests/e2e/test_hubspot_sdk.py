"""HubSpot's own Python SDK (``hubspot-api-client``) against our gateway, changing only the host.

Scripts written for HubSpot's tickets API must keep working when pointed at us: the SDK
creates, reads, updates, lists, searches, batch-reads/creates/updates tickets, reads the
pipelines and adds/removes default associations, and sees HubSpot's error bodies. What it
does goes through the same services as ``/api/v1`` (the timeline, the feed and the access
rule prove it). Merging and archiving need the tickets RPCs ``merge_tickets`` and
``delete_ticket``; their tests skip, naming the RPC, only while the service has none.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm import tickets as hs
from hubspot.crm.tickets import ApiException

from tests.e2e.conftest import Suite, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def suite(make_vhost: Callable[[], str]) -> Iterator[Suite]:
    folder = tempfile.mkdtemp(prefix="hd-e2e-hubspot-")
    running = Suite(Path(folder), make_vhost())
    try:
        running.start()
        yield running
        running.stop()
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


def sdk(suite: Suite, token: str | None = None) -> HubSpot:
    return HubSpot(access_token=token or suite.admin_token, host=suite.base_url)


def create(client: HubSpot, **properties: str) -> Any:
    body = hs.SimplePublicObjectInputForCreate(properties=properties)
    return client.crm.tickets.basic_api.create(simple_public_object_input_for_create=body)


def error_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    assert set(body) >= {"status", "message", "correlationId", "category"}, body
    return body


def test_create_read_update_list(suite: Suite) -> None:
    client = sdk(suite)
    made = create(client, subject="Printer on fire", content="smoke", hs_ticket_priority="HIGH")
    assert made.properties["subject"] == "Printer on fire" and made.properties["hs_ticket_priority"] == "HIGH"
    assert made.id.isdigit() and made.archived is False and made.created_at is not None
    assert made.properties["hs_object_id"] == made.id and made.properties["hs_pipeline_stage"] == "1"

    got = client.crm.tickets.basic_api.get_by_id(made.id, properties=["subject", "hs_pipeline_stage"])
    assert (
        set(got.properties) == {"subject", "hs_pipeline_stage"} and got.properties["hs_pipeline_stage"] == "1"
    )

    changed = client.crm.tickets.basic_api.update(
        made.id, simple_public_object_input=hs.SimplePublicObjectInput(properties={"hs_pipeline_stage": "4"})
    )
    assert changed.properties["hs_pipeline_stage"] == "4"
    closed = client.crm.tickets.basic_api.get_by_id(made.id, properties=["closed_date"])
    assert closed.properties["closed_date"] is not None

    timeline = suite.request("GET", f"/api/v1/tickets/{made.id}/timeline").json()["items"]
    assert [(t["type"], t.get("field")) for t in timeline][:2] == [
        ("property_changed", "status"),
        ("created", None),
    ]
    assert wait_for(lambda: any(i["ticket_id"] == int(made.id) for i in suite.feed()), 20)

    for i in range(3):
        create(client, subject=f"listed {i}")
    first = client.crm.tickets.basic_api.get_page(limit=2)
    assert len(first.results) == 2 and first.paging.next.after
    everything = client.crm.tickets.get_all()
    ids = [int(t.id) for t in everything]
    assert ids == sorted(ids) and int(made.id) in ids and len(ids) >= 4


def test_search(suite: Suite) -> None:
    client = sdk(suite)
    urgent = create(
        client, subject="Router down sku-77", hs_ticket_priority="URGENT", hs_ticket_category="network"
    )
    create(client, subject="Router slow", hs_ticket_priority="LOW", hs_ticket_category="network")

    def search(*filters: hs.Filter, **kwargs: Any) -> Any:
        request = hs.PublicObjectSearchRequest(
            filter_groups=[hs.FilterGroup(filters=list(filters))], **kwargs
        )
        return client.crm.tickets.search_api.do_search(public_object_search_request=request)

    network = hs.Filter(property_name="hs_ticket_category", operator="EQ", value="network")
    found = search(network, sorts=["-hs_ticket_priority"], properties=["subject", "hs_ticket_priority"])
    assert found.total == 2 and found.results[0].properties["subject"] == urgent.properties["subject"]
    high = hs.Filter(property_name="hs_ticket_priority", operator="GTE", value="HIGH")
    assert [t.id for t in search(network, high).results] == [urgent.id]
    token = hs.Filter(property_name="subject", operator="CONTAINS_TOKEN", value="sku-77")
    assert [t.id for t in search(token).results] == [urgent.id]
    listed = hs.Filter(property_name="hs_object_id", operator="IN", values=[urgent.id, "999999"])
    assert [t.id for t in search(listed).results] == [urgent.id]
    no_owner = hs.Filter(property_name="hubspot_owner_id", operator="NOT_HAS_PROPERTY")
    page = search(network, no_owner, limit=1)
    assert page.total == 2 and len(page.results) == 1 and page.paging.next.after
    rest = search(network, no_owner, limit=1, after=page.paging.next.after)
    assert {page.results[0].id, rest.results[0].id} == {urgent.id, str(int(urgent.id) + 1)}
    text = client.crm.tickets.search_api.do_search(
        public_object_search_request=hs.PublicObjectSearchRequest(query="router slow")
    )
    assert [t.properties["subject"] for t in text.results] == ["Router slow"]

    with pytest.raises(ApiException) as caught:
        search(hs.Filter(property_name="shoe_size", operator="EQ", value="9"))
    assert caught.value.status == 400 and error_of(caught.value)["category"] == "VALIDATION_ERROR"


def test_batches_pipelines_and_associations(suite: Suite) -> None:
    client = sdk(suite)
    batch = client.crm.tickets.batch_api
    made = batch.create(
        batch_input_simple_public_object_batch_input_for_create=hs.BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                hs.SimplePublicObjectBatchInputForCreate(properties={"subject": f"batch {i}"})
                for i in range(3)
            ]
        )
    )
    ids = [t.id for t in made.results]
    assert made.status == "COMPLETE" and len(ids) == 3
    updated = batch.update(
        batch_input_simple_public_object_batch_input=hs.BatchInputSimplePublicObjectBatchInput(
            inputs=[
                hs.SimplePublicObjectBatchInput(id=i, properties={"hs_ticket_priority": "URGENT"})
                for i in ids
            ]
        )
    )
    assert {t.properties["hs_ticket_priority"] for t in updated.results} == {"URGENT"}
    read = batch.read(
        batch_read_input_simple_public_object_id=hs.BatchReadInputSimplePublicObjectId(
            inputs=[hs.SimplePublicObjectId(id=i) for i in [*ids, "999999"]], properties=["subject"]
        )
    )
    assert sorted(t.id for t in read.results) == sorted(ids) and read.num_errors == 1
    assert read.errors[0].category == "OBJECT_NOT_FOUND" and read.errors[0].context == {"ids": ["999999"]}

    pipelines = client.crm.pipelines.pipelines_api.get_all(object_type="tickets").results
    stages = {s.label: s.metadata["ticketState"] for s in pipelines[0].stages}
    assert stages == {
        "New": "OPEN",
        "Waiting on contact": "OPEN",
        "Waiting on us": "OPEN",
        "Closed": "CLOSED",
    }

    associations = client.crm.associations.v4.basic_api
    done = associations.create_default(
        from_object_type="tickets", from_object_id=ids[0], to_object_type="contacts", to_object_id="51"
    )
    assert done.results[0].to.id == "51"
    got = client.crm.tickets.basic_api.get_by_id(ids[0], associations=["contacts"])
    assert [a.id for a in got.associations["contacts"].results] == ["51"]
    page = client.crm.tickets.basic_api.get_page(associations=["contacts"], limit=100)
    listed = {t.id: t.associations for t in page.results}
    assert [a.id for a in listed[ids[0]]["contacts"].results] == ["51"] and not listed[ids[1]]
    associations.archive(
        object_type="tickets", object_id=ids[0], to_object_type="contacts", to_object_id="51"
    )
    assert suite.request("GET", f"/api/v1/tickets/{ids[0]}").json()["associations"]["contacts"] == []


def test_hubspot_errors_and_the_access_rule(suite: Suite) -> None:
    client = sdk(suite)
    with pytest.raises(ApiException) as caught:
        client.crm.tickets.basic_api.get_by_id("999999")
    assert caught.value.status == 404 and error_of(caught.value)["category"] == "OBJECT_NOT_FOUND"
    with pytest.raises(ApiException) as caught:
        create(client, subject="x", hs_ticket_priority="SEVERE")
    body = error_of(caught.value)
    assert caught.value.status == 400 and body["errors"][0]["context"] == {
        "propertyName": ["hs_ticket_priority"]
    }
    with pytest.raises(ApiException) as caught:
        create(client, subject="x", createdate="2020-01-01")
    assert error_of(caught.value)["errors"][0]["code"] == "READ_ONLY_VALUE"
    with pytest.raises(ApiException) as caught:
        sdk(suite, "not-a-token").crm.tickets.basic_api.get_page()
    assert caught.value.status == 401 and error_of(caught.value)["category"] == "INVALID_AUTHENTICATION"

    user = {
        "name": "Owned",
        "email": "owned@example.com",
        "permissions": ["service_access"],
        "access_level": "owned",
    }
    owned = suite.request("POST", "/api/v1/users", json=user).json()
    token = suite.request("POST", f"/api/v1/users/{owned['id']}/tokens", json={}).json()["token"]
    mine = create(client, subject="owned one", hubspot_owner_id=str(owned["id"]))
    other = create(client, subject="not theirs")
    theirs = sdk(suite, token)
    assert [t.id for t in theirs.crm.tickets.get_all()] == [mine.id]
    with pytest.raises(ApiException) as caught:
        theirs.crm.tickets.basic_api.get_by_id(other.id)
    assert caught.value.status == 404


def test_merge(suite: Suite) -> None:
    client = sdk(suite)
    primary, secondary = create(client, subject="keep me"), create(client, subject="absorb me")
    merged = client.crm.tickets.basic_api.merge(
        public_merge_input=hs.PublicMergeInput(primary_object_id=primary.id, object_id_to_merge=secondary.id)
    )
    assert merged.id == primary.id and secondary.id in merged.properties["hs_merged_object_ids"].split(";")
    assert client.crm.tickets.basic_api.get_by_id(secondary.id).id == primary.id


def test_archive(suite: Suite) -> None:
    client = sdk(suite)
    one, two, three = (create(client, subject=f"archive {i}") for i in range(3))
    client.crm.tickets.basic_api.archive(one.id)
    client.crm.tickets.batch_api.archive(
        batch_input_simple_public_object_id=hs.BatchInputSimplePublicObjectId(
            inputs=[hs.SimplePublicObjectId(id=two.id), hs.SimplePublicObjectId(id=three.id)]
        )
    )
    for ticket in (one, two, three):
        with pytest.raises(ApiException) as caught:
            client.crm.tickets.basic_api.get_by_id(ticket.id)
        assert caught.value.status == 404
