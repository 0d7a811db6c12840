"""`opsctl devices ...`: provision devices of the IoT front door (thing, certificate, policy, registry)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opsctl.cli import fmt
from opsctl.cli.options import OutputOpt, Settings
from opsctl.cli.render import Col, OutputFormat, emit, note, out, print_table, safe

devices_app = typer.Typer(
    help="Devices of the IoT Core front door: each an IoT thing with its own certificate, bound by the device "
    "policy to its topic dt/<tenant>/<device>/telemetry, and an entry in the device registry the read API checks.",
    no_args_is_help=True,
)

DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="show what would change; change nothing")]
CredentialsOpt = Annotated[
    Path,
    typer.Option(
        "--credentials",
        help="directory for <device>.pem (made if missing), or a file ending in .pem, for the certificate and "
        "private key, created mode 0600",
    ),
]
PrintOpt = Annotated[
    bool, typer.Option("--print-credentials", help="also print the certificate and private key on stdout")
]


def _clients(ctx: typer.Context):
    from opsctl.devices.registry import DeviceStack

    settings: Settings = ctx.obj
    stack = settings.stack()
    return stack.target.client("iot"), stack.target.client("dynamodb"), DeviceStack.from_stack(stack)


def _value(key: str, value) -> str:
    """One field of a device's answer in the written form every opsctl table uses (fmt), device text made safe."""
    if key.endswith("_at"):  # epoch milliseconds in the registry
        return fmt.utc(value)
    if isinstance(value, bool):
        return fmt.yes_no(value)
    if isinstance(value, dict):  # the registry entry, the thing: key=value pairs, never a Python repr
        return ", ".join(f"{safe(str(k))}={_value(str(k), v)}" for k, v in value.items()) or fmt.NONE
    if isinstance(value, list):
        return ", ".join(safe(str(v)) for v in value) or fmt.NONE
    if value is None:
        return fmt.NONE
    return safe(str(value))


def show_device(d: dict) -> None:
    """A device's answer (register, show, revoke, rotate) as `field: value` lines, the PEM last when asked for."""
    for k, v in d.items():
        if k != "credentials_pem":
            out.print(f"{k}: {_value(k, v)}")
    if d.get("credentials_pem"):
        out.print(d["credentials_pem"], end="", markup=False, highlight=False)


def show_devices(d: dict) -> None:
    print_table(
        [
            Col("device", key=True),
            Col("tenant"),
            Col("status"),
            Col("created (UTC)", drop=2),
            Col("certificate", drop=1),
        ],
        [
            [
                safe(e["device_id"]),
                safe(e.get("tenant", "")),
                safe(e.get("status", "")),
                fmt.utc(e.get("created_at")),
                safe((e.get("certificate_id") or "")[:16]),
            ]
            for e in d["devices"]
        ],
    )


def _emit(result: dict, output: OutputFormat, print_credentials: bool) -> None:
    pem = result.pop("_pem", None)
    if print_credentials and pem:
        result["credentials_pem"] = pem
    emit(result, output, show_device)


@devices_app.command()
def register(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="device id = thing name (A-Z a-z 0-9 _ : -)")],
    tenant: Annotated[str, typer.Option(help="tenant the device belongs to (a-z 0-9 -)")],
    credentials: CredentialsOpt = Path("."),
    print_credentials: PrintOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Register DEVICE of TENANT: thing, active certificate with the device policy, registry entry. Idempotent.

    The private key is written once, to --credentials (mode 0600), and printed only with --print-credentials.

    Example: opsctl devices register meter-0001 --tenant acme --credentials ./certs/"""
    from opsctl.devices import registry

    iot, ddb, names = _clients(ctx)
    result = registry.register(iot, ddb, names, device, tenant, credentials=credentials, dry_run=dry_run)
    if result["action"] == "registered":
        note(f"certificate and private key written to {safe(result['credentials_file'])} (mode 0600)")
    _emit(result, output, print_credentials)


@devices_app.command("list")
def list_(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="only this tenant's devices")] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Devices in the registry (tenant, status, created, certificate)."""
    from opsctl.devices import registry

    _, ddb, names = _clients(ctx)
    entries = registry.list_devices(ddb, names, tenant)

    emit({"count": len(entries), "devices": entries}, output, show_devices)


@devices_app.command()
def show(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="device id")],
    output: OutputOpt = OutputFormat.table,
) -> None:
    """A device's registry entry, thing and certificate status, and whether they agree (exit 1 if not)."""
    from opsctl.devices import registry

    iot, ddb, names = _clients(ctx)
    result = registry.show(iot, ddb, names, device)
    _emit(result, output, False)
    if not result["consistent"]:
        raise typer.Exit(1)


@devices_app.command()
def revoke(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="device id")],
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Revoke DEVICE: its certificate INACTIVE (it can no longer connect), registry status revoked. Its readings
    stay, readable by its tenant. Idempotent."""
    from opsctl.devices import registry

    iot, ddb, names = _clients(ctx)
    _emit(registry.revoke(iot, ddb, names, device, dry_run=dry_run), output, False)


@devices_app.command()
def rotate(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="device id")],
    credentials: CredentialsOpt = Path("."),
    print_credentials: PrintOpt = False,
    dry_run: DryRunOpt = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Give DEVICE a new certificate (written to --credentials, mode 0600); the old one becomes INACTIVE."""
    from opsctl.devices import registry

    iot, ddb, names = _clients(ctx)
    result = registry.rotate(iot, ddb, names, device, credentials=credentials, dry_run=dry_run)
    if result["action"] == "rotated":
        note(f"new certificate and private key written to {safe(result['credentials_file'])} (mode 0600)")
    _emit(result, output, print_credentials)
