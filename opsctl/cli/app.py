"""opsctl: the on-call CLI. It parses arguments, calls the library, and renders; nothing more.

Every user-caused error is one line on stderr and a non-zero exit; a traceback means a bug."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from opsctl.cli.options import Settings
from opsctl.cli.render import err
from opsctl.core.errors import OpsError

app = typer.Typer(
    name="opsctl",
    help="Operate the telemetry pipeline (Kinesis → Lambda → DynamoDB): inspect it, steer it in incidents, "
    "and rehearse on a local sandbox.\n\nThe environment comes from --env (default $OPSCTL_ENV, else `local`, the sandbox).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    env: Annotated[
        str,
        typer.Option("--env", "-e", envvar="OPSCTL_ENV", help="environment under terraform/envs (local = the sandbox)"),
    ] = "local",
    region: Annotated[
        str | None, typer.Option(help="AWS region (default: the environment's `region` output)")
    ] = None,
    profile: Annotated[str | None, typer.Option(envvar="AWS_PROFILE", help="AWS named profile")] = None,
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="send every AWS call to this endpoint")
    ] = None,
    stream: Annotated[
        str | None, typer.Option(help="use this Kinesis stream instead of the environment's `stream_name`")
    ] = None,
    function: Annotated[
        str | None, typer.Option(help="use this ingest function instead of the environment's `ingest_function_name`")
    ] = None,
    table: Annotated[
        str | None, typer.Option(help="use this DynamoDB table instead of the environment's `table_name`")
    ] = None,
) -> None:
    ctx.obj = Settings(
        env=env,
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        overrides={"stream_name": stream, "ingest_function_name": function, "table_name": table},
    )


def _register() -> None:
    from opsctl.cli import capacity as capacity_cli
    from opsctl.cli import dlq as dlq_cli
    from opsctl.cli import stream as ops_cli
    from opsctl.cli.devices import devices_app
    from opsctl.cli.quarantine import quarantine_app
    from opsctl.cli.sandbox import sandbox_app

    ops_cli.register(app)
    dlq_cli.register(app)
    capacity_cli.register(app)
    app.add_typer(sandbox_app, name="sandbox")
    app.add_typer(quarantine_app, name="quarantine")
    app.add_typer(devices_app, name="devices")


_register()


def _aws_error_line(exc: Exception) -> str | None:
    """One line for AWS errors a user causes (no credentials, unreachable endpoint, missing resource)."""
    from botocore import exceptions as bx

    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return "no AWS credentials found (set AWS_PROFILE or use --profile; the sandbox needs none: --env local)"
    if isinstance(exc, bx.ProfileNotFound):
        return f"AWS profile {exc.kwargs.get('profile', '?')!r} is not configured (check --profile / AWS_PROFILE and `aws configure list-profiles`)"
    if isinstance(exc, bx.EndpointConnectionError):
        return f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')} (is the sandbox up? `opsctl sandbox status`)"
    if isinstance(exc, bx.ClientError):
        e = exc.response.get("Error", {})
        return f"AWS refused {exc.operation_name}: {e.get('Code', '?')}: {e.get('Message', '')}".rstrip(": ")
    return None


def main() -> None:
    """Console-script entry point: runs the app and turns user errors into one line + exit code."""
    try:
        app(prog_name="opsctl")
    except OpsError as exc:
        err.print(f"[red]error:[/red] {escape(exc.line())}", markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted: nothing half-done was committed; run the command again to continue")
        sys.exit(130)
    except Exception as exc:
        line = _aws_error_line(exc)
        if line is None:
            raise
        err.print(f"[red]error:[/red] {escape(line)}", markup=True, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
