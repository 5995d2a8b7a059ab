"""services.chassis.signatures: the same calls accepted and refused as nameko's own check."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from nameko.exceptions import IncorrectSignature
from nameko.extensions import Entrypoint

from services.chassis.signatures import SignatureOnce


class _Service:
    def method(self, a: int, b: int = 2, *, c: int = 3) -> None: ...

    def anything(self, *args: Any, **kwargs: Any) -> None: ...


class _Nameko(Entrypoint):
    pass


class _Ours(SignatureOnce, _Nameko):
    pass


def _bound(cls: type, method: str) -> Any:
    entrypoint = cls()
    entrypoint.container = SimpleNamespace(service_cls=_Service)
    entrypoint.method_name = method
    return entrypoint


CALLS = [
    ("method", (1,), {}),
    ("method", (1, 2), {"c": 4}),
    ("method", (), {"a": 1}),
    ("method", (), {}),
    ("method", (1, 2, 3), {}),
    ("method", (1,), {"d": 1}),
    ("method", (1,), {"a": 1}),
    ("anything", (1, 2), {"x": 1}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), CALLS)
def test_a_call_is_accepted_or_refused_as_nameko_decides(method: str, args: tuple, kwargs: dict) -> None:
    def verdict(entrypoint: Any) -> bool:
        try:
            entrypoint.check_signature(args, kwargs)
        except IncorrectSignature:
            return False
        return True

    ours = _bound(_Ours, method)
    assert verdict(ours) == verdict(_bound(_Nameko, method))
    assert verdict(ours) == verdict(ours), "the kept signature decides the same the second time"


def test_the_signature_is_read_once_per_bound_entrypoint() -> None:
    ours = _bound(_Ours, "method")
    ours.check_signature((1,), {})
    kept = ours._signature
    ours.check_signature((1,), {})
    assert kept is not None and ours._signature is kept
    assert _bound(_Ours, "anything")._signature is None
