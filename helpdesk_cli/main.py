"""The ``helpdesk`` command: every group and command, each with ``--help``.

Commands call the gateway (:class:`~helpdesk_cli.api.Api`) with the chosen profile, print a
table (or ``--json``), and exit with the codes in :mod:`helpdesk_cli.errors`. Shell completion:
``helpdesk completion bash`` (or zsh, fish) prints the script to source.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from helpdesk_cli import config
from helpdesk_cli.api import Api
from helpdesk_cli.errors import FAILURE, INVALID, OK, PARTIAL, CliError
from helpdesk_cli.output import emit_json, err, out, progress, rate, record, table

F = TypeVar("F", bound=Callable[..., Any])

TICKET_COLUMNS = ("id", "name", "status", "priority", "owner_id", "updated_at")
USER_COLUMNS = ("id", "name", "email", "permissions", "access_level", "seat")
TEAM_COLUMNS = ("id", "name", "member_ids")
TOKEN_COLUMNS = ("id", "label", "created_at", "last_used_at", "revoked_at")
PRIORITIES = click.Choice(["low", "medium", "high", "urgent"])
VIEWS = click.Choice(["unassigned", "mine", "following", "open", "unread"])
BULK_CHUNK = 100


class State:
    """What every command shares: the profile name, output mode, and the API (made when needed)."""

    def __init__(self, profile: str | None, as_json: bool, quiet: bool) -> None:
        self.profile = profile
        self.as_json = as_json
        self.quiet = quiet
        self._api: Api | None = None

    @property
    def api(self) -> Api:
        if self._api is None:
            chosen = config.resolve(self.profile)
            self._api = Api(chosen.url, chosen.token)
        return self._api

    def show(self, data: Any, columns: tuple[str, ...] | None = None, title: str | None = None) -> None:
        if self.as_json:
            emit_json(data)
        elif isinstance(data, list):
            table(data, columns or (tuple(data[0]) if data else ()), title=title)
        elif isinstance(data, dict) and "items" in data and columns:
            table(data["items"], columns, title=title)
            if data.get("next_cursor"):
                err.print(
                    f"{len(data['items'])} of {data.get('total')}; more with --cursor {data['next_cursor']}"
                )
        elif isinstance(data, dict):
            record(data, title=title)
        else:
            out.print(data)


pass_state = click.make_pass_decorator(State)


def handled(func: F) -> F:
    """Turn a CliError into its message on stderr and its exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CliError as exc:
            err.print(f"[red]error:[/red] {exc.message}", highlight=False)
            sys.exit(exc.code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--profile", "-p", envvar="HELPDESK_PROFILE", help="Profile to use (default: the last login).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (what the API answered) instead of tables.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.version_option("0.1.0", prog_name="helpdesk")
@click.pass_context
def cli(ctx: click.Context, profile: str | None, as_json: bool, quiet: bool) -> None:
    """The help desk from the command line: tickets, people, imports, dead letters, retention.

    Sign in once with `helpdesk login`; HELPDESK_URL and HELPDESK_TOKEN override the profile.
    Exit codes: 0 done, 2 usage, 3 not signed in, 4 forbidden, 5 not found, 6 conflict,
    7 invalid input, 8 unavailable, 9 partly done (see the report), 1 anything else.
    """
    ctx.obj = State(profile, as_json, quiet)


# -- profiles -------------------------------------------------------------------------------------


@cli.command()
@click.option("--url", default=config.DEFAULT_URL, show_default=True, help="The gateway's base URL.")
@click.option("--token", prompt=True, hide_input=True, envvar="HELPDESK_TOKEN", help="An API token.")
@click.option("--profile", "name", default="default", show_default=True, help="Name to save it under.")
@pass_state
@handled
def login(state: State, url: str, token: str, name: str) -> None:
    """Check a token against the help desk and save it as a profile (made the default)."""
    me = Api(url, token).get("/api/v1/me")
    path = config.save(name, url, token)
    if state.as_json:
        emit_json({"profile": name, "url": url, "user": me})
    else:
        out.print(
            f"Signed in to {url} as {me.get('name')} <{me.get('email')}>; profile {name!r} saved in {path}"
        )


@cli.command()
@click.argument("name", default="default")
@handled
def logout(name: str) -> None:
    """Forget a profile (its token stays valid on the server: revoke it with `helpdesk tokens revoke`)."""
    if not config.remove(name):
        raise CliError(f"no profile named {name!r}", INVALID)
    out.print(f"profile {name!r} removed")


@cli.command()
@pass_state
def profiles(state: State) -> None:
    """List saved profiles (tokens are not shown)."""
    data = config.load_all()
    rows = [
        {"name": n, "url": p["url"], "default": n == data["default"]} for n, p in data["profiles"].items()
    ]
    state.show(rows, ("name", "url", "default"))


# -- tickets --------------------------------------------------------------------------------------


@cli.group()
def tickets() -> None:
    """List, show, create, change, merge and delete tickets."""


@tickets.command("list")
@click.option("--status", type=int, help="Stage id.")
@click.option("--pipeline", "pipeline_id", type=int, help="Pipeline id.")
@click.option("--owner", "owner_id", help="Owner's user id, or 'none' for unassigned.")
@click.option("--priority", type=PRIORITIES)
@click.option("--view", type=VIEWS, help="A default view.")
@click.option("--q", "q", help="Words of the name or description.")
@click.option("--sort", default="-updated_at", show_default=True, help="e.g. created_at, -priority, name.")
@click.option("--limit", type=click.IntRange(1, 100), default=25, show_default=True)
@click.option("--cursor", help="Continue from a previous page.")
@click.option("--all", "everything", is_flag=True, help="Every page (ignores --limit and --cursor).")
@pass_state
@handled
def tickets_list(state: State, everything: bool, **query: Any) -> None:
    """The table layout: tickets you may see, filtered and sorted."""
    if everything:
        query.pop("cursor")
        query.pop("limit")
        items = state.api.pages("/api/v1/tickets", **query)
        state.show(items if state.as_json else {"items": items}, TICKET_COLUMNS)
        return
    state.show(state.api.get("/api/v1/tickets", **query), TICKET_COLUMNS)


@tickets.command("show")
@click.argument("ticket_id", type=int)
@pass_state
@handled
def tickets_show(state: State, ticket_id: int) -> None:
    """A ticket with all its fields (opening it marks it read for you)."""
    state.show(state.api.get(f"/api/v1/tickets/{ticket_id}"))


def _fields(**given: Any) -> dict[str, Any]:
    found = {k: v for k, v in given.items() if v is not None}
    if found.get("owner_id") in ("none", "0"):
        found["owner_id"] = None
    elif "owner_id" in found:
        found["owner_id"] = int(found["owner_id"])
    return found


@tickets.command("create")
@click.option("--name", required=True, help="The subject.")
@click.option("--description")
@click.option("--priority", type=PRIORITIES)
@click.option("--pipeline", "pipeline_id", type=int)
@click.option("--status", type=int, help="Stage id.")
@click.option("--owner", "owner_id", help="User id.")
@click.option("--category")
@click.option("--idempotency-key", help="Send the same key again and the first ticket comes back.")
@pass_state
@handled
def tickets_create(state: State, idempotency_key: str | None, **given: Any) -> None:
    """Create a ticket."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    state.show(state.api.post("/api/v1/tickets", _fields(**given), headers=headers))


@tickets.command("update")
@click.argument("ticket_id", type=int)
@click.option("--name")
@click.option("--description")
@click.option("--priority", type=PRIORITIES)
@click.option("--pipeline", "pipeline_id", type=int)
@click.option("--status", type=int, help="Stage id.")
@click.option("--owner", "owner_id", help="User id, or 'none' to unassign.")
@click.option("--category")
@click.option("--if-version", type=int, help="Only if the ticket is still at this version (else exit 6).")
@pass_state
@handled
def tickets_update(state: State, ticket_id: int, if_version: int | None, **given: Any) -> None:
    """Change fields of a ticket."""
    changes = _fields(**given)
    if not changes:
        raise CliError("name at least one field to change", INVALID)
    headers = {"If-Match": f'"{if_version}"'} if if_version is not None else None
    state.show(state.api.patch(f"/api/v1/tickets/{ticket_id}", changes, headers=headers))


@tickets.command("bulk-update")
@click.argument("ticket_ids", type=int, nargs=-1, required=True)
@click.option("--priority", type=PRIORITIES)
@click.option("--status", type=int, help="Stage id.")
@click.option("--owner", "owner_id", help="User id, or 'none' to unassign.")
@pass_state
@handled
def tickets_bulk_update(state: State, ticket_ids: tuple[int, ...], **given: Any) -> None:
    """Apply the same change to many tickets (in chunks of 100, with a progress bar)."""
    changes = _fields(**given)
    if not changes:
        raise CliError("name at least one of --priority, --status, --owner", INVALID)
    ids = list(dict.fromkeys(ticket_ids))
    results: list[dict[str, Any]] = []
    began = time.monotonic()
    with progress(quiet=state.quiet) as bar:
        task = bar.add_task("bulk update", total=len(ids), rate="")
        for start in range(0, len(ids), BULK_CHUNK):
            chunk = ids[start : start + BULK_CHUNK]
            answer = state.api.post("/api/v1/tickets/bulk-update", {"ids": chunk, "changes": changes})
            results += answer["results"]
            bar.update(task, advance=len(chunk), rate=rate(len(results), time.monotonic() - began, "tickets"))
    failed = [r for r in results if r["status"] >= 400]
    rows = [
        {"id": r["id"], "status": r["status"], "error": (r.get("error") or {}).get("detail")} for r in results
    ]
    state.show(rows, ("id", "status", "error"))
    if failed:
        sys.exit(PARTIAL)


@tickets.command("merge")
@click.argument("primary_id", type=int)
@click.argument("secondary_id", type=int)
@pass_state
@handled
def tickets_merge(state: State, primary_id: int, secondary_id: int) -> None:
    """Merge SECONDARY into PRIMARY (the survivor keeps PRIMARY's id and values; cannot be undone)."""
    body = {"primary_id": primary_id, "secondary_id": secondary_id}
    state.show(state.api.post("/api/v1/tickets/merge", body))


@tickets.command("delete")
@click.argument("ticket_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask.")
@pass_state
@handled
def tickets_delete(state: State, ticket_id: int, yes: bool) -> None:
    """Move a ticket (with its conversations) to the recycle bin."""
    if not yes:
        click.confirm(f"Delete ticket {ticket_id}?", abort=True, err=True)
    state.api.delete(f"/api/v1/tickets/{ticket_id}")
    if state.as_json:
        emit_json({"id": ticket_id, "deleted": True})
    else:
        out.print(f"ticket {ticket_id} is in the recycle bin")


# -- people ---------------------------------------------------------------------------------------


@cli.group()
def users() -> None:
    """List, show, create and change users."""


@users.command("list")
@click.option("--q", "q", help="Part of the name or email.")
@click.option("--team", "team_id", type=int)
@pass_state
@handled
def users_list(state: State, q: str | None, team_id: int | None) -> None:
    """Every user (all pages)."""
    items = state.api.pages("/api/v1/users", q=q, team_id=team_id)
    state.show(items if state.as_json else {"items": items}, USER_COLUMNS)


@users.command("show")
@click.argument("user_id", type=int)
@pass_state
@handled
def users_show(state: State, user_id: int) -> None:
    """One user."""
    state.show(state.api.get(f"/api/v1/users/{user_id}"))


def _user_body(**given: Any) -> dict[str, Any]:
    body = {k: v for k, v in given.items() if v is not None and v != ()}
    for name in ("permissions", "team_ids"):
        if name in body:
            body[name] = list(body[name])
    return body


_PERMISSIONS = click.Choice(
    ["service_access", "sales_access", "delete_tickets", "bulk_delete", "account_access", "super_admin"]
)
_LEVELS = click.Choice(["everything", "team", "owned", "none"])


@users.command("create")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--permission", "permissions", type=_PERMISSIONS, multiple=True, help="Repeat for several.")
@click.option("--access-level", "access_level", type=_LEVELS)
@click.option("--include-unassigned/--no-include-unassigned", default=None)
@click.option("--team", "team_ids", type=int, multiple=True)
@click.option("--seat/--no-seat", default=None)
@pass_state
@handled
def users_create(state: State, **given: Any) -> None:
    """Create a user."""
    state.show(state.api.post("/api/v1/users", _user_body(**given)))


@users.command("update")
@click.argument("user_id", type=int)
@click.option("--name")
@click.option("--email")
@click.option("--permission", "permissions", type=_PERMISSIONS, multiple=True, help="Replaces the set.")
@click.option("--access-level", "access_level", type=_LEVELS)
@click.option("--include-unassigned/--no-include-unassigned", default=None)
@click.option("--team", "team_ids", type=int, multiple=True, help="Replaces the teams.")
@click.option("--seat/--no-seat", default=None)
@pass_state
@handled
def users_update(state: State, user_id: int, **given: Any) -> None:
    """Change a user (only the options given)."""
    state.show(state.api.patch(f"/api/v1/users/{user_id}", _user_body(**given)))


@cli.group()
def teams() -> None:
    """List and create teams, set their members."""


@teams.command("list")
@pass_state
@handled
def teams_list(state: State) -> None:
    """Every team."""
    items = state.api.pages("/api/v1/teams")
    state.show(items if state.as_json else {"items": items}, TEAM_COLUMNS)


@teams.command("create")
@click.argument("name")
@pass_state
@handled
def teams_create(state: State, name: str) -> None:
    """Create a team."""
    state.show(state.api.post("/api/v1/teams", {"name": name}))


@teams.command("members")
@click.argument("team_id", type=int)
@click.argument("user_ids", type=int, nargs=-1)
@pass_state
@handled
def teams_members(state: State, team_id: int, user_ids: tuple[int, ...]) -> None:
    """Set a team's whole membership (no user ids: empty it)."""
    state.show(state.api.put(f"/api/v1/teams/{team_id}/members", {"user_ids": list(user_ids)}))


@cli.group()
def tokens() -> None:
    """List, issue and revoke API tokens."""


@tokens.command("list")
@click.argument("user_id", type=int)
@pass_state
@handled
def tokens_list(state: State, user_id: int) -> None:
    """A user's tokens (never their values)."""
    items = state.api.pages(f"/api/v1/users/{user_id}/tokens")
    state.show(items if state.as_json else {"items": items}, TOKEN_COLUMNS)


@tokens.command("issue")
@click.argument("user_id", type=int)
@click.option("--label")
@pass_state
@handled
def tokens_issue(state: State, user_id: int, label: str | None) -> None:
    """Issue a token for a user; its value is shown this once."""
    state.show(state.api.post(f"/api/v1/users/{user_id}/tokens", {"label": label} if label else {}))


@tokens.command("revoke")
@click.argument("token_id", type=int)
@pass_state
@handled
def tokens_revoke(state: State, token_id: int) -> None:
    """Revoke a token: it stops working at once."""
    state.api.delete(f"/api/v1/tokens/{token_id}")
    if state.as_json:
        emit_json({"id": token_id, "revoked": True})
    else:
        out.print(f"token {token_id} revoked")


# -- import ---------------------------------------------------------------------------------------


@cli.group("import")
def import_() -> None:
    """Bring tickets over from another help desk."""


def _zone(_ctx: click.Context, _param: click.Parameter, value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r}") from None


@import_.command("hubspot")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Report what would change; create and write nothing.")
@click.option("--batch-size", type=click.IntRange(1, 500), default=500, show_default=True)
@click.option(
    "--errors", "errors_path", type=click.Path(dir_okay=False, path_type=Path), help="Error report."
)
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path), help="Resume file.")
@click.option("--restart", is_flag=True, help="Ignore a saved position and start from the first row.")
@click.option(
    "--timezone", "zone", default="UTC", show_default=True, callback=_zone, help="Of dates without one."
)
@click.option("--source", default="hubspot", show_default=True, help="Name of the system the ids belong to.")
@click.option("--pause", type=float, default=0.0, help="Seconds to wait between batches (a busy help desk).")
@pass_state
@handled
def import_hubspot(state: State, file: Path, **options: Any) -> None:
    """Import a HubSpot ticket export (CSV or XLSX).

    Pipelines and stages are created by label when missing; owners are matched by email
    (unknown ones are reported and their tickets left unassigned); original dates are kept;
    the HubSpot id is kept, so running it again updates instead of duplicating. A killed
    import resumes where it stopped. Rows that fail are listed in FILE.errors.csv.
    Exit 0 when every row was imported, 9 when some failed.
    """
    from helpdesk_cli.importer import Importer, Options

    opts = Options(path=file, **options)
    with progress(quiet=state.quiet) as bar:
        task = bar.add_task("dry run" if opts.dry_run else "import", total=None, rate="")
        began = time.monotonic()

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, rate=rate(done, time.monotonic() - began))

        summary = Importer(state.api, opts, advance).run()
    _show_summary(state, summary.as_dict())
    sys.exit(PARTIAL if summary.failed else OK)


def _show_summary(state: State, data: dict[str, Any]) -> None:
    if state.as_json:
        emit_json(data)
        return
    verb = "would be" if data["dry_run"] else "were"
    out.print(
        f"{data['rows']:,} rows in {data['seconds']}s ({data['rows_per_second'] or 0:,} rows/s): "
        f"{data['created']:,} {verb} created, {data['updated']:,} updated, "
        f"{data['unchanged']:,} unchanged, {data['failed']:,} failed"
    )
    if data["resumed_at_row"]:
        out.print(f"resumed after row {data['resumed_at_row']:,}")
    for label in data["new_pipelines"]:
        out.print(f"new pipeline: {label}")
    for label in data["new_stages"]:
        out.print(f"new stage: {label}")
    if data["unknown_owners"]:
        table(
            [{"owner": k, "tickets": v} for k, v in data["unknown_owners"].items()],
            ("owner", "tickets"),
            title="Unknown owners (tickets left unassigned)",
        )
    if data["error_report"]:
        out.print(f"report of failed rows and warnings: {data['error_report']}")


# -- dead letters and retention -------------------------------------------------------------------


@cli.group()
@click.option(
    "--amqp-uri", envvar="AMQP_URI", default="amqp://guest:guest@127.0.0.1:5672/", show_default=True
)
@click.pass_context
def dlq(ctx: click.Context, amqp_uri: str) -> None:
    """Dead-lettered events: list the queues, show what is parked, replay it (talks to the broker)."""
    ctx.meta["amqp_uri"] = amqp_uri
    # the deploy tools import nameko, which imports eventlet; its notice is not for operators
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")


def _broker(ctx: click.Context) -> Any:
    from kombu import Connection

    connection = Connection(ctx.meta["amqp_uri"], connect_timeout=5)
    try:
        connection.ensure_connection(max_retries=1)
    except Exception as exc:
        raise CliError(f"cannot reach the broker: {exc}", 8) from exc
    return connection


@dlq.command("list")
@click.pass_context
@handled
def dlq_list(ctx: click.Context) -> None:
    """Every dead-letter queue and how many messages wait in it."""
    from deploy import dlq as tools

    state: State = ctx.find_object(State)  # type: ignore[assignment]
    with _broker(ctx) as conn:
        rows = [{"queue": name, "messages": tools.depth(conn, name)} for name in tools.dead_queues()]
    state.show(rows, ("queue", "messages"))


@dlq.command("show")
@click.argument("queue")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.pass_context
@handled
def dlq_show(ctx: click.Context, queue: str, limit: int) -> None:
    """The first parked messages of QUEUE with their errors (they stay parked)."""
    from deploy import dlq as tools
    from services.chassis.events import ERROR_HEADER

    state: State = ctx.find_object(State)  # type: ignore[assignment]
    dead = queue.removesuffix(".dead") + ".dead"
    with _broker(ctx) as conn:
        if tools.depth(conn, dead) is None:
            raise CliError(f"no such dead-letter queue: {queue}", 5)
        items = tools.peek(conn, dead, limit)
    rows = [{"error": i["headers"].get(ERROR_HEADER, "?"), "body": str(i["body"])[:500]} for i in items]
    state.show(rows, ("error", "body"))


@dlq.command("replay")
@click.argument("queue")
@click.pass_context
@handled
def dlq_replay(ctx: click.Context, queue: str) -> None:
    """Move QUEUE's parked messages back to its live queue (handlers are idempotent)."""
    from deploy import dlq as tools

    state: State = ctx.find_object(State)  # type: ignore[assignment]
    live = queue.removesuffix(".dead")
    with _broker(ctx) as conn:
        waiting = tools.depth(conn, f"{live}.dead")
        if waiting is None or tools.depth(conn, live) is None:
            raise CliError(f"no such subscription queue: {live} (see `helpdesk dlq list`)", 5)
        began = time.monotonic()
        with progress(quiet=state.quiet) as bar:
            task = bar.add_task(f"replay {live}", total=waiting, rate="")

            def moved(count: int) -> None:
                bar.update(task, completed=count, rate=rate(count, time.monotonic() - began, "msgs"))

            count = tools.replay(conn, live, progress=moved)
    if state.as_json:
        emit_json({"queue": live, "replayed": count})
    else:
        out.print(f"replayed {count} messages to {live}")


@cli.group()
def retention() -> None:
    """Purges of the spam view and the recycle bin."""


def _retention(state: State, dry_run: bool) -> None:
    answer = state.api.post("/api/v1/retention/runs", {"dry_run": dry_run})
    items = answer.get("items", []) if isinstance(answer, dict) else answer
    if state.as_json:
        emit_json(answer)
    else:
        table(items, ("kind", "id", "due_at"), title="would be purged" if dry_run else "purged")


@retention.command("preview")
@pass_state
@handled
def retention_preview(state: State) -> None:
    """What a purge would remove now, and when each item is due (a dry run)."""
    _retention(state, True)


@retention.command("run")
@click.option("--yes", is_flag=True, help="Do not ask.")
@pass_state
@handled
def retention_run(state: State, yes: bool) -> None:
    """Purge now what is due (idempotent; safe to rerun)."""
    if not yes:
        click.confirm("Purge everything that is due now?", abort=True, err=True)
    _retention(state, False)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. `eval "$(helpdesk completion bash)"`."""
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)
    assert complete is not None
    click.echo(complete(cli, {}, "helpdesk", "_HELPDESK_COMPLETE").source())


def main() -> None:
    """Entry point of the ``helpdesk`` script."""
    try:
        cli(prog_name="helpdesk")
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: say what, exit 1
        if os.environ.get("HELPDESK_DEBUG"):
            raise
        err.print(f"[red]unexpected error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(FAILURE)
