"""The registry at scale, counted in S3 requests (moto over HTTP, through a counting proxy):
registering a version and listing a page cost the same whatever the model's history holds."""

from __future__ import annotations

import json

from mlci.registry import Registry
from mlci.store import open_store


def register(reg: Registry, first: int, last: int) -> None:
    for i in range(first, last + 1):
        reg.register({"run_id": f"run-{i}", "fingerprint": f"fp-{i}", "blessed": True,
                      "metrics": {"accuracy": i / 1000}}, actor="ci")


def requests_of(proxy, action) -> int:  # noqa: ANN001
    before = len(proxy.requests)
    action()
    return len(proxy.requests) - before


def listings_of(proxy, action) -> int:  # noqa: ANN001
    """ListObjects requests made by ``action``: what grows with a model's history."""
    before = len(proxy.requests)
    action()
    return sum(1 for _, path in proxy.requests[before:] if "list-type=" in path or "prefix=" in path)


def test_registering_and_listing_a_page_cost_the_same_at_any_history_length(bucket, fault_proxy, tmp_path, mlci):
    uri = f"s3://{bucket}/reg"
    reg = Registry(open_store(uri), "m")
    register(reg, 1, 20)
    at_21 = requests_of(fault_proxy, lambda: register(reg, 21, 21))
    list_20 = requests_of(fault_proxy, lambda: reg.page(5))
    register(reg, 22, 80)
    at_81 = requests_of(fault_proxy, lambda: register(reg, 81, 81))
    list_80 = requests_of(fault_proxy, lambda: reg.page(5))
    assert at_81 == at_21 <= 9  # claim, hint, a look at it and above it, the version, its hint, event, claim
    assert list_80 == list_20 == 5 + 3  # the hint, a look at it and above it, five versions
    assert listings_of(fault_proxy, lambda: register(reg, 82, 82)) == 0
    assert listings_of(fault_proxy, lambda: reg.page(5)) == 0
    assert [v["version"] for v in reg.page(5)] == [82, 81, 80, 79, 78]
    assert [v["version"] for v in reg.page(3, before=3)] == [2, 1]


def test_a_stale_or_missing_hint_never_gives_a_number_twice(tmp_path):
    store = open_store(str(tmp_path / "store"))
    reg = Registry(store, "m")
    register(reg, 1, 3)
    store.put_bytes("models/m/latest.json", json.dumps({"version": 1}).encode())  # a slower writer's hint
    register(reg, 4, 4)
    assert reg.latest_number() == 4 and reg.get(4)["fingerprint"] == "fp-4"
    store.delete("models/m/latest.json")  # a registry from before the hint
    assert reg.latest_number() == 4
    register(reg, 5, 5)
    store.put_bytes("models/m/latest.json", b"not json")
    assert reg.latest_number() == 5
    store.put_bytes("models/m/latest.json", json.dumps({"version": 99}).encode())  # ahead of the records
    assert reg.latest_number() == 5 and reg.resolve("latest")["version"] == 5
    assert sorted(reg.version_numbers()) == [1, 2, 3, 4, 5]


def test_registry_list_shows_a_page_newest_first(tmp_path, mlci):
    store = tmp_path / "store"
    register(Registry(open_store(str(store)), "m"), 1, 30)
    r = mlci("registry", "list", "m", "--store", store, "--json")
    assert [v["version"] for v in json.loads(r.stdout)] == list(range(30, 10, -1))
    r = mlci("registry", "list", "m", "--store", store, "--limit", "3", "--before", "5", "--json")
    assert [v["version"] for v in json.loads(r.stdout)] == [4, 3, 2]
    r = mlci("registry", "list", "m", "--store", store, "--all", "--json")
    assert [v["version"] for v in json.loads(r.stdout)] == list(range(30, 0, -1))
    r = mlci("registry", "list", "m", "--store", store, "--limit", "2")
    assert r.returncode == 0 and "newest 2 shown; older: --before 29, every version: --all" in r.stderr
    r = mlci("registry", "list", "m", "--store", store, "--limit", "0")
    assert r.returncode == 2 and "--limit 0: expected a number of versions, at least 1" in r.stderr
    r = mlci("registry", "list", "m", "--store", store, "--before", "1")
    assert r.returncode == 2 and "has no version before v1" in r.stderr
