"""JSON for messages and HTTP answers through orjson, meaning what kombu's and the standard
library's JSON meant.

A board of a hundred tickets is ~75 kB of JSON, encoded by the tickets service for its RPC reply,
decoded by the gateway and encoded again for the client. kombu's ``json`` encodes through the
standard library with a Python ``default`` and decodes with a Python ``object_hook`` called for
every object: ~0.8 and ~0.5 ms for that board, where orjson takes ~0.03 and ~0.13.
:func:`install` puts orjson under kombu's ``json`` serializer (same name, same content type
``application/json`` and encoding ``utf-8``, so publishers, consumers and clients outside nameko
see JSON as before), with these promises:

* **The same values arrive.** Whatever kombu's ``json`` encoded, a message still carries the same
  value: str, int, float, bool, None, lists, tuples (as lists) and dicts with string keys go
  through orjson; what orjson refuses (a dict key that is not a string, an integer past 64 bits,
  a string with a lone surrogate) and kombu's tagged types (datetime, date, time, Decimal, bytes,
  anything with ``__json__``) are encoded by kombu's own encoder, as before. Three differences,
  all for values no contract of ours carries (every schema refuses integers past 63 bits and
  non-finite numbers, and no payload holds a UUID object): a float NaN or infinity is sent as
  ``null`` (kombu sent ``NaN``, which is not JSON), a UUID as its string (kombu tagged it), and
  an integer past 64 bits in a body is read as a float (orjson's reading; it is still sent whole).
* **The same values are read.** A body orjson cannot read (``NaN``, integers past 64 bits) or
  that holds kombu's type tags (``"__type__"``) is decoded by kombu's own decoder, as before; a
  body neither can read raises as before.
* **Bytes out.** :func:`encode` returns UTF-8 bytes, non-ASCII characters as themselves (the
  standard library escaped them as ``\\uXXXX``; the JSON is the same).
"""

from __future__ import annotations

from typing import Any

import orjson
from kombu import serialization
from kombu.utils import json as kombu_json

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_OPTIONS |= orjson.OPT_PASSTHROUGH_SUBCLASS
_TAG = b'"__type__"'


def _refuse(value: Any) -> Any:
    raise TypeError(f"not plain JSON: {type(value).__name__}")


def encode(value: Any) -> bytes:
    """``value`` as UTF-8 JSON; what orjson refuses goes through kombu's encoder (module docstring)."""
    try:
        return orjson.dumps(value, default=_refuse, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        text: str = kombu_json.dumps(value)  # ASCII: the standard library escapes the rest
        return text.encode("ascii")


def decode(body: bytes | bytearray | memoryview | str) -> Any:
    """The value a JSON body holds; kombu's decoder reads what orjson cannot (module docstring)."""
    if isinstance(body, memoryview):
        body = body.tobytes()
    tagged = _TAG.decode() in body if isinstance(body, str) else _TAG in body
    if not tagged:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return kombu_json.loads(body)


def install() -> None:
    """Register :func:`encode` and :func:`decode` as kombu's ``json`` serializer, for every
    publisher and consumer of this process (nameko's included)."""
    serialization.register("json", encode, decode, content_type="application/json", content_encoding="utf-8")
