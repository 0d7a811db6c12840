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
