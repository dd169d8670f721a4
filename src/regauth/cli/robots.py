"""The ``regauth robot`` commands: create, list, revoke, delete (robot accounts for CI).

``robot create NAME --federated ISSUER --claim KEY=VALUE ... [--audience AUD]`` makes a
federated robot: no secret, it logs in with its CI system's ID token (keyless CI).
Every command goes through :class:`regauth.accounts.AccountService`, as the admin API does.
"""

from __future__ import annotations

from pathlib import Path

import click

from regauth.cli.common import (
    account_service,
    emit,
    fail,
    json_option,
    load,
    main,
    parse_expires,
    print_table,
    reports_account_errors,
    short_time,
    state_options,
)


@main.group()
def robot() -> None:
    """Robot accounts for CI: log in as robot+NAME with the secret."""


def _parse_robot_grants(values: tuple[str, ...]) -> list[tuple[str, str]]:
    grants = []
    for value in values:
        pattern, sep, role = value.rpartition("=")
        if not sep or not pattern:
            raise click.BadParameter(f"expected PATTERN=ROLE, got {value!r}", param_hint="--grant")
        grants.append((pattern, role))
    return grants


@robot.command("create")
@click.argument("name")
@click.option("--description", default=None)
@click.option("--expires", default=None, help="30d, 12h, a date such as 2027-01-31, or never.")
@click.option("--grant", "grants", multiple=True, help="PATTERN=ROLE, e.g. 'team/*=push'.")
@click.option(
    "--federated",
    "issuer",
    default=None,
    metavar="ISSUER",
    help="Trust this OIDC issuer's ID tokens instead of a secret (keyless CI).",
)
@click.option(
    "--claim",
    "claims",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --federated: a condition on the token, e.g. repository=acme/api; '*' matches "
    "any run of characters; a key given twice accepts either value.",
)
@click.option(
    "--audience",
    default=None,
    help="With --federated: the aud the tokens must carry (default: robots.federated_audience).",
)
@state_options
@json_option
@reports_account_errors
def robot_create(
    name: str,
    description: str | None,
    expires: str | None,
    grants: tuple[str, ...],
    issuer: str | None,
    claims: tuple[str, ...],
    audience: str | None,
    config_path: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Create a robot; its secret is shown only now (a federated robot has none)."""
    from regauth.accounts.federation import check_federation, parse_claim_conditions

    federation = None
    if issuer is not None:
        federation = check_federation(issuer, audience, parse_claim_conditions(claims))
    elif claims or audience is not None:
        fail("--claim and --audience need --federated ISSUER")
    created = account_service(config_path, data_dir).create_robot(
        name,
        description=description,
        expires_at=parse_expires(expires),
        grants=_parse_robot_grants(grants),
        created_by="cli",
        federation=federation,
    )
    view = created.view
    if federation is not None:
        config, _ = load(config_path, data_dir)
        aud = federation.audience or config.robots.federated_audience or config.server.base_url()
        conditions = ", ".join(f"{k}={' or '.join(v)}" for k, v in federation.claims.items())
        emit(
            created.as_dict(),
            as_json,
            lambda: click.echo(
                f"created federated robot {name}; a CI job logs in with no stored secret:\n"
                f"  username: {view.username}\n"
                f"  password: an ID token from {federation.issuer} with audience {aud}\n"
                f"  accepted when: {conditions}"
            ),
        )
        return
    emit(
        created.as_dict(),
        as_json,
        lambda: click.echo(
            f"created robot {name}; log in with (the secret is shown only once):\n"
            f"  username: {view.username}\n  password: {created.secret}"
        ),
    )


@robot.command("list")
@state_options
@json_option
@reports_account_errors
def robot_list(config_path: Path | None, data_dir: Path | None, as_json: bool) -> None:
    """List robots with their last use."""
    robots = [r.as_dict() for r in account_service(config_path, data_dir).list_robots()]
    emit(
        robots,
        as_json,
        lambda: print_table(
            None,
            ["robot", "login", "grants", "expires", "revoked", "last used"],
            [
                [
                    r["name"],
                    r["username"] + (" (federated)" if r["federated"] else ""),
                    "; ".join(r["grants"]),
                    short_time(r["expires_at"]),
                    short_time(r["revoked_at"]),
                    short_time(r["last_used_at"]),
                ]
                for r in robots
            ],
        ),
    )


@robot.command("revoke")
@click.argument("name")
@state_options
@reports_account_errors
def robot_revoke(name: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Revoke a robot: its secret stops working at once."""
    account_service(config_path, data_dir).revoke_robot(name)
    click.echo(f"robot {name} revoked")


@robot.command("delete")
@click.argument("name")
@state_options
@reports_account_errors
def robot_delete(name: str, config_path: Path | None, data_dir: Path | None) -> None:
    """Delete a robot and its grants."""
    account_service(config_path, data_dir).delete_robot(name)
    click.echo(f"robot {name} deleted")
