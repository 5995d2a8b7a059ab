"""An SMTP server for tests that keeps every message it accepts as a file.

Run: ``python -m tests.smtp_sink --port P --dir D [--host H] [--refuse WHAT]``. It runs in its own
process (the test process is monkey-patched by eventlet; asyncio servers do not belong there).

Each accepted message is stored as ``D/<sequence>-<id>.eml`` holding the exact bytes received,
with ``D/<sequence>-<id>.json`` (``mail_from``, ``""`` for ``<>``, and ``rcpt_tos``) written
first; both appear atomically (temporary name, fsync, rename): a reader never sees half a message.

Refusals, to test senders: ``--refuse rcpt-4xx|rcpt-5xx|data-4xx|data-5xx`` refuses every
recipient or every message; a recipient whose local part is ``reject-4xx`` or ``reject-5xx`` is
refused alone.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

REPLIES = {
    "4xx": "450 4.2.1 Mailbox temporarily unavailable",
    "5xx": "550 5.1.1 No such user here",
}


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


class Sink:
    def __init__(self, folder: Path, refuse: str | None) -> None:
        self.folder = folder
        self.refuse = refuse
        self.sequence = itertools.count(1)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        local = address.split("@", 1)[0].lower()
        if self.refuse in ("rcpt-4xx", "rcpt-5xx"):
            return REPLIES[self.refuse[-3:]]
        if local in ("reject-4xx", "reject-5xx"):
            return REPLIES[local[-3:]]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse in ("data-4xx", "data-5xx"):
            return "451 4.3.0 Try again later" if self.refuse == "data-4xx" else "554 5.7.1 Message refused"
        stem = f"{next(self.sequence):06d}-{uuid.uuid4().hex[:8]}"
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        meta = {"mail_from": mail_from, "rcpt_tos": list(envelope.rcpt_tos)}
        write_atomically(self.folder / f"{stem}.json", json.dumps(meta).encode())
        write_atomically(self.folder / f"{stem}.eml", envelope.original_content or b"")
        return f"250 2.0.0 OK {stem}"


async def serve(host: str, port: int, folder: Path, refuse: str | None) -> None:
    loop = asyncio.get_running_loop()
    sink = Sink(folder, refuse)

    def session() -> Any:
        return SMTP(sink, hostname="smtp-sink", enable_SMTPUTF8=True, data_size_limit=None)

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # ours before the port opens, as the edge's
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(session, host, port)
    print(f"smtp sink on {host}:{port} -> {folder}", flush=True)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.smtp_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--refuse", choices=["rcpt-4xx", "rcpt-5xx", "data-4xx", "data-5xx"])
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir, args.refuse))
    return 0


if __name__ == "__main__":
    sys.exit(main())
