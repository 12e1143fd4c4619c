"""A Lambda deployment package as the AWS guide's "Deploy Python Lambda functions with .zip file
archives" makes it: one module at the archive's root (`lambda_function.py` by default, so the
handler is `lambda_function.lambda_handler`)."""

from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path

NOOP_FUNCTION = "def lambda_handler(event, context):\n    pass\n"


def function_zip(source: str, module: str = "lambda_function") -> bytes:
    """The .zip bytes with `source` (its common indentation removed) as `<module>.py`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{module}.py", textwrap.dedent(source))
    return buffer.getvalue()


def write_function_zip(directory: Path, source: str = NOOP_FUNCTION) -> Path:
    """`directory/lambda_function.zip` with `source` as lambda_function.py: the workshop's file."""
    path = directory / "lambda_function.zip"
    path.write_bytes(function_zip(source))
    return path
