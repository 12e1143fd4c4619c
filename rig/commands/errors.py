"""The one error type commands raise: `rig.cli.main` prints it as `buttonrig: <message>`."""

from __future__ import annotations

# aws-cli exits 255 for a failed call and for client-side errors alike (bad parameter values,
# unreadable files); argparse's own usage errors keep their exit status 2.
CLIENT_ERROR_EXIT = 255


class CommandError(Exception):
    """A user-facing failure: printed as `buttonrig: <message>`, exit status `exit_code`."""

    exit_code = CLIENT_ERROR_EXIT
