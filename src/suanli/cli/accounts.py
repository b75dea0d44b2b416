"""`suanli tenant|user|token|audit|whoami`: accounts. Secrets go to stdout alone (the
last line), everything else to stderr or --json, so `TOKEN=$(suanli token create ...)`
captures exactly the token."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from suanli.cli import render
from suanli.cli.common import JsonOpt, TokenOpt, UrlOpt, call, fail, operator_client

tenant_app = typer.Typer(no_args_is_help=True, help="Tenants: firms, labs, schools.")
user_app = typer.Typer(no_args_is_help=True, help="People's accounts and their roles.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens: create, list, revoke.")

ROLES = ("consumer", "provider", "auditor", "operator")


@tenant_app.command("add")
def tenant_add(
    tenant: str,
    name: Annotated[str, typer.Option(help="display name (default: the id)")] = "",
    sector: Annotated[str, typer.Option(help="industry, e.g. finance, 金融")] = "other",
    contact: Annotated[str, typer.Option(help="e-mail or phone of who to call")] = "",
    size: Annotated[
        str, typer.Option(help="firm size: micro, small, medium, large or unknown")
    ] = "unknown",
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a tenant (operator)."""
    with operator_client(url, token) as c:
        data = call(c.add_tenant, tenant, name=name, sector=sector, contact=contact, size=size)
    if json_out:
        render.print_json(data)
    else:
        render.err.print(f"tenant {data['id']} added ({data['sector']})")


@tenant_app.command("list")
def tenant_list(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Tenants with sector, fair-share weight, cohort and quotas."""
    with operator_client(url, token) as c:
        rows = call(c.tenants)
    if json_out:
        render.print_json(rows)
        return
    render.table(
        ("TENANT", "NAME", "SECTOR", "WEIGHT", "COHORT", "CREATED"),
        [
            (
                t["id"],
                t["name"],
                t.get("sector", "other"),
                f"{t['weight']:g}",
                t["cohort"] or "-",
                render.when(t.get("created_at")),
            )
            for t in rows
        ],
    )


@tenant_app.command("show")
def tenant_show(
    tenant: str, json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None
) -> None:
    """A tenant's account and its users."""
    with operator_client(url, token) as c:
        data = call(c.tenant, tenant)
    if json_out:
        render.print_json(data)
        return
    render.out.print(
        f"{data['id']}  {data['name']}\nsector {data['sector']}  contact "
        f"{data['contact'] or '-'}  created {render.when(data['created_at'])}"
    )
    _users(data["users"])


def _users(rows: list[dict[str, Any]]) -> None:
    render.table(
        ("USER", "ROLE", "TENANT", "PROVIDER", "CREATED", "DISABLED"),
        [
            (
                u["id"],
                u["role"],
                u["tenant_id"] or "-",
                u["provider_id"] or "-",
                render.when(u["created_at"]),
                render.when(u["disabled_at"]),
            )
            for u in rows
        ],
    )


@user_app.command("add")
def user_add(
    user: str,
    role: Annotated[str, typer.Option(help="consumer, provider, auditor or operator")],
    tenant: Annotated[str | None, typer.Option(help="a consumer's tenant")] = None,
    provider: Annotated[str | None, typer.Option(help="a provider admin's provider")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a person's account (operator); then `suanli token create --user USER`."""
    if role not in ROLES:
        fail(f"unknown role {role!r}: use one of {', '.join(ROLES)}.", 2)
    with operator_client(url, token) as c:
        data = call(c.add_user, user, role=role, tenant=tenant, provider=provider)
    if json_out:
        render.print_json(data)
    else:
        bound = data["tenant_id"] or data["provider_id"] or "all tenants"
        render.err.print(f"user {data['id']} added: {data['role']} of {bound}")


@user_app.command("list")
def user_list(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's users")] = None,
    provider: Annotated[str | None, typer.Option(help="only this provider's admins")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Users (a consumer sees its own tenant's)."""
    with operator_client(url, token) as c:
        rows = call(c.users, tenant=tenant, provider=provider)
    if json_out:
        render.print_json(rows)
    else:
        _users(rows)


@user_app.command("disable")
def user_disable(user: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Disable an account and revoke all its tokens (operator)."""
    with operator_client(url, token) as c:
        call(c.disable_user, user)
    render.err.print(f"user {user} disabled; its tokens no longer work")


@token_app.command("create")
def token_create(
    user: Annotated[str | None, typer.Option(help="whose token (default: yours)")] = None,
    name: Annotated[str, typer.Option(help="what it is for, e.g. ci")] = "",
    expires: Annotated[
        str, typer.Option(help="lifetime: 30d, 12h, ... or never (operators)")
    ] = "90d",
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a token. Prints the token alone on the last line of stdout, once: it is
    stored hashed and cannot be shown again."""
    with operator_client(url, token) as c:
        data = call(c.create_token, user=user, name=name, expires=expires)
    info = data["info"]
    if json_out:
        render.print_json(data)
        return
    until = render.when(info["expires_at"]) if info["expires_at"] else "never"
    render.err.print(
        f"token {info['id']} for {info['user_id']} ({info['role']}), expires {until}; "
        "shown once, store it now:"
    )
    print(data["token"])


@token_app.command("list")
def token_list(
    user: Annotated[str | None, typer.Option(help="a user's tokens (operator)")] = None,
    everyone: Annotated[
        bool, typer.Option("--all", help="every token, agents' included (operator)")
    ] = False,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Tokens: ids, names, last use, expiry; never the secret."""
    with operator_client(url, token) as c:
        rows = call(c.tokens, user=user, everyone=everyone)
    if json_out:
        render.print_json(rows)
        return
    render.table(
        ("ID", "USER", "NAME", "ROLE", "CREATED", "LAST USED", "EXPIRES", "REVOKED"),
        [
            (
                t["id"],
                t["user_id"],
                t["name"] or "-",
                t["role"],
                render.when(t["created_at"]),
                render.when(t["last_used_at"]),
                render.when(t["expires_at"]) if t["expires_at"] else "never",
                render.when(t["revoked_at"]),
            )
            for t in rows
        ],
    )


@token_app.command("revoke")
def token_revoke(token_id: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Revoke a token by its id (see `suanli token list`); it stops working within a second."""
    with operator_client(url, token) as c:
        data = call(c.revoke_token, token_id)
    render.err.print(f"token {data['id']} of {data['user_id']} revoked")


def audit(
    since: Annotated[
        str | None, typer.Option(help="ISO time, e.g. 2026-12-01 or 2026-12-01T08:00Z")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant's entries")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="entries per page")] = 100,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """The audit log, newest first (operator, auditor)."""
    with operator_client(url, token) as c:
        page = call(c.audit, since=since, tenant=tenant, limit=limit)
    if json_out:
        render.print_json(page)
        return
    render.table(
        ("ID", "AT", "ACTOR", "ROLE", "ACTION", "TARGET", "TENANT", "DETAIL"),
        [
            (
                str(e["id"]),
                render.when(e["at"]),
                e["actor"],
                e["actor_role"],
                e["action"],
                e["target"],
                e["tenant_id"] or "-",
                ", ".join(f"{k}={v}" for k, v in e["detail"].items()) or "-",
            )
            for e in page["items"]
        ],
    )


def whoami(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Who your token belongs to and what it may do."""
    with operator_client(url, token) as c:
        data = call(c.whoami)
    if json_out:
        render.print_json(data)
        return
    bound = data["tenant_id"] or data["provider_id"] or "-"
    render.out.print(
        f"{data['user_id']} ({data['role']}, {bound}); may: " + ", ".join(data["permissions"])
    )
