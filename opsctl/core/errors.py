"""Errors a user can cause. The CLI prints them as one line and exits non-zero; anything else is a bug.

Library code names the arguments it was given by their parameter names, written `{name}` in a message or
hint and listed in `arguments`; it never spells a command-line flag. The CLI renders each as the flag a user
typed (`{window}` → `--window`, opsctl/cli/errors.py); `str(err)` and `line()` render the parameter name, for
callers that are not the CLI. Subclasses say what kind of failure it was (`code`, stable: `--output json`
and tests read it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def _plain(name: str) -> str:
    return name


class OpsError(Exception):
    """A user-facing failure: `line()` is the one line to print, `hint` says what to do next."""

    exit_code = 1
    code = "error"

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        exit_code: int | None = None,
        *,
        arguments: Iterable[str] = (),
    ):
        self.template = message
        self.hint_template = hint
        self.arguments = tuple(arguments)
        super().__init__(self._fill(message, _plain))
        if exit_code is not None:
            self.exit_code = exit_code

    def _fill(self, text: str, name_of: Callable[[str], str]) -> str:
        for name in self.arguments:
            text = text.replace("{" + name + "}", name_of(name))
        return text

    @property
    def hint(self) -> str | None:
        return None if self.hint_template is None else self._fill(self.hint_template, _plain)

    def message(self, name_of: Callable[[str], str] = _plain) -> str:
        return self._fill(self.template, name_of)

    def line(self, name_of: Callable[[str], str] = _plain) -> str:
        """The message and its hint, each argument spelled by `name_of` (the CLI passes its flag names)."""
        hint = None if self.hint_template is None else self._fill(self.hint_template, name_of)
        return self.message(name_of) + (f" ({hint})" if hint else "")


class InvalidArgument(OpsError):
    """A value the operation cannot take; found before any AWS call is made. `arguments[0]` is the one at fault."""

    code = "invalid_argument"


class NotFound(OpsError):
    """A resource the operation was pointed at does not exist (a stream, a table, a queue, an output)."""

    code = "not_found"

    def __init__(self, kind: str, name: str, hint: str | None = None, *, arguments: Iterable[str] = ()):
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} {name!r} does not exist", hint, arguments=arguments)


class NotReady(OpsError):
    """The environment is not in a state the operation can use yet (not initialised, not applied)."""

    code = "not_ready"


class Refused(OpsError):
    """The operation would lose or corrupt something, so it did nothing (expired records, a conflicting
    destination); the hint says how to go on."""

    code = "refused"


def aws_error_line(exc: BaseException) -> str | None:
    """One line, in the user's terms, for AWS errors a user causes (no credentials, unreachable endpoint,
    a refused call), or None when `exc` is not one: then it is a bug and keeps its traceback."""
    from botocore import exceptions as bx

    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return "no AWS credentials found (set AWS_PROFILE or use --profile; the sandbox needs none: --env local)"
    if isinstance(exc, bx.ProfileNotFound):
        return (
            f"AWS profile {exc.kwargs.get('profile', '?')!r} is not configured "
            "(check --profile / AWS_PROFILE and `aws configure list-profiles`)"
        )
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)):
        return (
            f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')} "
            "(check --endpoint-url / --region; is the sandbox up? `opsctl sandbox status`)"
        )
    if isinstance(exc, bx.ReadTimeoutError):
        return f"{exc.kwargs.get('endpoint_url', 'the AWS endpoint')} did not answer in time (try again)"
    if isinstance(exc, bx.ClientError):
        e = exc.response.get("Error", {})
        return f"AWS refused {exc.operation_name}: {e.get('Code', '?')}: {e.get('Message', '')}".rstrip(": ")
    if isinstance(exc, bx.BotoCoreError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None
