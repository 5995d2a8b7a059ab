"""An entrypoint's argument check with the method's signature read once.

nameko checks every call's arguments against the service method before it spawns a worker, with
``inspect.getcallargs``, which reads the method's signature afresh each time (~40 us of a gateway
request's CPU, 2-4 % of a create). :class:`SignatureOnce` keeps the signature and binds to it:
the same calls are accepted and the same ones refused, with :class:`IncorrectSignature`.
"""

from __future__ import annotations

import inspect
from typing import Any

from nameko.exceptions import IncorrectSignature


class SignatureOnce:
    """Mixin for a nameko ``Entrypoint``: ``check_signature`` against a signature read once per
    bound entrypoint (nameko binds one per container and method)."""

    container: Any
    method_name: str
    _signature: inspect.Signature | None = None

    def check_signature(self, args: Any, kwargs: Any) -> None:
        signature = self._signature
        if signature is None:
            method = getattr(self.container.service_cls, self.method_name)
            signature = self._signature = inspect.signature(method)
        try:
            signature.bind(None, *args, **kwargs)  # None stands for the instance, as nameko's does
        except TypeError as exc:
            raise IncorrectSignature(str(exc)) from None
