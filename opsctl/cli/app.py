"""opsctl: the on-call CLI. It parses arguments, calls the library, and renders; nothing more.

Every user-caused error is one line on stderr and a non-zero exit; a traceback means a bug."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from opsctl.cli.errors import error_line
from opsctl.cli.options import Settings, check_target
from opsctl.cli.render import err, safe
from opsctl.core.errors import OpsError


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("telemetry-pipeline-opsctl")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _show_version(value: bool) -> None:
    if value:
        print(f"opsctl {_version()}")
        raise typer.Exit(0)


app = typer.Typer(
    name="opsctl",
    help="Operate the telemetry pipeline (Kinesis → Lambda → DynamoDB): inspect it, steer it in incidents, "
    "and rehearse on a local sandbox.\n\nThe environment comes from --env (default $OPSCTL_ENV, else `local`, the "
    "sandbox).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=False)
def root(
    ctx: typer.Context,
    env: Annotated[
        str,
        typer.Option("--env", "-e", envvar="OPSCTL_ENV", help="environment under terraform/envs (local = the sandbox)"),
    ] = "local",
    region: Annotated[str | None, typer.Option(help="AWS region (default: the environment's `region` output)")] = None,
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
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="print opsctl's version and exit"),
    ] = False,
) -> None:
    check_target(region=region, endpoint_url=endpoint_url)
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


def _as_written(doc: str | None) -> str | None:
    """A docstring as help that renders as written at any width: prose paragraphs become one line each (rich
    wraps them to the terminal), while example blocks keep one command a line, indented."""
    import inspect

    if not doc:
        return doc
    paragraphs = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines = para.splitlines()
        head = lines[0].strip()
        if head.lower().startswith("examples:"):
            rest = head[len("examples:") :].strip()
            body = ([rest] if rest else []) + [ln.strip() for ln in lines[1:] if ln.strip()]
            paragraphs.append("\n".join(["Examples:"] + [_example(ln) for ln in body]))
        elif head.startswith("opsctl "):
            paragraphs.append("\n".join(_example(ln.strip()) for ln in lines if ln.strip()))
        else:
            paragraphs.append(" ".join(ln.strip() for ln in lines))
    return "\n\n".join(paragraphs)


def _example(line: str) -> str:
    # typer dedents help text, so an indent would vanish; a prompt marks an example line at any width
    return line if line.startswith("$ ") else f"$ {line}"


def _flag_without_metavar(display_type_rich):
    def display(self, ctx):
        return None if self.is_flag else display_type_rich(self, ctx)

    return display


# typer shows `<bool>` after every flag (`--yes <bool>`), which reads as if the flag took a value
typer.core.TyperOption.display_type_rich = _flag_without_metavar(  # type: ignore[method-assign]  # deliberate patch
    typer.core.TyperOption.display_type_rich
)


def _help_as_written(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.callback is not None and info.help is None:
            info.callback.__doc__ = _as_written(info.callback.__doc__)
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        if sub is not None:
            if sub.info.help:
                sub.info.help = _as_written(sub.info.help)
            _help_as_written(sub)


_help_as_written(app)


def _usage_line(exc) -> str:
    """Click's usage error as one line, in the same `error:` style as opsctl's own errors."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    # pydantic (typer's coercion) prefixes "Value error, "; the rest is the message a user needs
    return exc.format_message().replace("Value error, ", "").replace("\n", " ") + where


def _print_error(line: str) -> None:
    err.print(f"[red]error:[/red] {safe(line)}", markup=True, soft_wrap=True)


def main() -> None:
    """Console-script entry point: runs the app and turns user errors into one line + exit code."""
    from typer._click import exceptions as click_exc  # typer ≥0.29 vendors click

    from opsctl.core.errors import aws_error_line

    try:
        code = app(prog_name="opsctl", standalone_mode=False)
    except OpsError as exc:
        _print_error(error_line(exc))
        sys.exit(exc.exit_code)
    except click_exc.NoArgsIsHelpError as exc:
        exc.show()  # prints the help, as `opsctl` alone should
        sys.exit(exc.exit_code)
    except click_exc.UsageError as exc:
        _print_error(_usage_line(exc))
        sys.exit(exc.exit_code)
    except typer.Abort:  # Ctrl-C or EOF at a prompt: nothing was done yet
        _print_error("interrupted before anything changed")
        sys.exit(130)
    except click_exc.ClickException as exc:
        _print_error(exc.format_message())
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _print_error("interrupted: nothing half-done was committed; run the command again to continue")
        sys.exit(130)
    except Exception as exc:
        line = aws_error_line(exc)
        if line is None:
            raise
        _print_error(line)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
