"""Errors a user can cause. The CLI prints them as one line and exits non-zero; anything else is a bug."""


class OpsError(Exception):
    """A user-facing failure: `str(err)` is the one line to print, `hint` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def line(self) -> str:
        return f"{self}" + (f" ({self.hint})" if self.hint else "")


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
