"""A realistic HubSpot ticket export, for tests and for measuring imports.

    python -m helpdesk_cli.hubspot_sample --rows 100000 export.csv   # or export.xlsx

The file has the headers HubSpot's "Export" writes and what real exports contain: two
pipelines (HubSpot's default support pipeline and a billing one with its own stages), owners
given as ``email`` or ``Name (email)`` (some unknown to the help desk, some blank), HubSpot's
priority labels (some blank), dates as ``YYYY-MM-DD HH:MM`` over three years with create <=
last activity <= close, close dates exactly on tickets in closed stages, categories and
sources, descriptions with commas, quotes, line breaks and Polish letters, and associated
contact/company/deal ids separated by ``;``. The same seed gives the same file.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

HEADERS = (
    "Ticket ID",
    "Ticket name",
    "Ticket description",
    "Pipeline",
    "Ticket status",
    "Priority",
    "Ticket owner",
    "Create date",
    "Last activity date",
    "Close date",
    "Category",
    "Source",
    "Associated Contact IDs",
    "Associated Company IDs",
    "Associated Deal IDs",
)
PIPELINES = {
    "Support Pipeline": (
        ("New", False),
        ("Waiting on contact", False),
        ("Waiting on us", False),
        ("Closed", True),
    ),
    "Billing": (("Open", False), ("In progress", False), ("Refund issued", True), ("Resolved", True)),
}
PRIORITIES = ("Low", "Medium", "Medium", "High", "Urgent", "")
CATEGORIES = ("Product issue", "Billing issue", "Feature request", "General inquiry", "")
SOURCES = ("Email", "Email", "Chat", "Form", "Phone", "")
SUBJECTS = (
    "Cannot log in to {product}",
    "Invoice {n} is wrong",
    "Refund for order #{n}",
    "{product} crashes on start",
    "Paczka nie dotarła ({n})",
    "How do I export my data from {product}?",
    "Password reset email never arrives",
    "Feature request: dark mode in {product}",
    'Error "{n}" when saving',
    "Zwrot za zamówienie {n}",
)
PRODUCTS = ("Mobile app", "Dashboard", "Billing portal", "API", "Desktop client")
SENTENCES = (
    "Hi, I have a problem since yesterday.",
    'The page says: "Something went wrong", then nothing happens.',
    "Tried again, cleared cache, same result.",
    "Dzień dobry, paczka miała być wczoraj, ale kurier się nie pojawił.",
    "Order numbers: {n}, {m}.",
    "Please call me back, it's urgent; our team can't work.",
    "Thanks in advance,\nAnna",
    "Screenshot attached (see link).",
)
FIRST = ("Ada", "Jan", "Maria", "Piotr", "Grace", "Linus", "Zofia", "Tomasz", "Alan", "Ewa")
LAST = ("Lovelace", "Kowalski", "Nowak", "Hopper", "Torvalds", "Wiśniewska", "Turing", "Zielińska")
START = dt.datetime(2022, 1, 1, 8, 0)


def owners(count: int = 24, unknown: int = 4) -> list[tuple[str, str]]:
    """``(name, email)`` of the export's owners; the last ``unknown`` are not help desk users."""
    found = []
    for i in range(count + unknown):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 3) % len(LAST)]
        domain = "example.com" if i < count else "old-agency.example"
        found.append((f"{first} {last}", f"{first.lower()}.{i}@{domain}"))
    return found


def _date(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _ids(rng: random.Random, chance: float, top: int) -> str:
    if rng.random() > chance:
        return ""
    return ";".join(str(rng.randint(1, top)) for _ in range(rng.choice((1, 1, 1, 2, 3))))


def rows(count: int, seed: int = 7) -> Iterator[list[str]]:
    """``count`` export rows (without the header)."""
    rng = random.Random(seed)
    people = owners()
    span = 3 * 365 * 24 * 60
    for n in range(count):
        pipeline = "Support Pipeline" if rng.random() < 0.8 else "Billing"
        stage, closed = rng.choice(PIPELINES[pipeline])
        created = START + dt.timedelta(minutes=rng.randrange(span))
        active = created + dt.timedelta(minutes=rng.randrange(60 * 24 * 30))
        close = active + dt.timedelta(minutes=rng.randrange(60 * 24 * 5)) if closed else None
        who = rng.choice(people)
        owner = "" if rng.random() < 0.15 else who[1] if rng.random() < 0.8 else f"{who[0]} ({who[1]})"
        words = {
            "product": rng.choice(PRODUCTS),
            "n": rng.randint(1000, 99999),
            "m": rng.randint(1000, 99999),
        }
        sentences = rng.sample(SENTENCES, rng.randint(1, 4))
        yield [
            str(1_000_000 + n * 7),
            rng.choice(SUBJECTS).format(**words),
            " ".join(sentences).format(**words),
            pipeline,
            stage,
            rng.choice(PRIORITIES),
            owner,
            _date(created),
            _date(max(active, close) if close else active),
            _date(close),
            rng.choice(CATEGORIES),
            rng.choice(SOURCES),
            _ids(rng, 0.7, 50_000),
            _ids(rng, 0.4, 5_000),
            _ids(rng, 0.2, 2_000),
        ]


def write(path: Path, count: int, seed: int = 7) -> Path:
    """Write an export of ``count`` rows to ``path`` (CSV, or XLSX by its suffix)."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Tickets")
        sheet.append(list(HEADERS))
        for row in rows(count, seed):
            sheet.append(row)
        workbook.save(path)
        return path
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(rows(count, seed))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path, help="where to write (.csv or .xlsx)")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write(args.path, args.rows, args.seed)


if __name__ == "__main__":
    main()
