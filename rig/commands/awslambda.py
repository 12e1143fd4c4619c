"""`buttonrig lambda …`: local Lambda functions (aws lambda …) with aws-cli's option names.

`invoke` as aws-cli: the function's response goes to the positional outfile; stdout shows
StatusCode, FunctionError (when the function failed) and ExecutedVersion. `--payload` takes
JSON text, `file://…`/`fileb://…`, or base64 (aws-cli v2's default binary format).
RequestResponse runs the function in its own process from this command; Event leaves the
event to the running cloud (`buttonrig cloud up`), which runs it.
"""

from __future__ import annotations

import argparse
from typing import Any

from rig.commands.awscli import Operation, Param, add_operations
from rig.commands.iot_data import _payload
from rig.commands.outfiles import write_outfile
from rig.commands.shapes import STRING, map_of, structure

FUNCTION = Param("--function-name", required=True)
ZIP = Param("--zip-file", "blob", required=True, help="fileb://function.zip")
ENVIRONMENT = structure(Variables=map_of(STRING))

OPERATIONS = [
    Operation(
        "create-function",
        "CreateFunction",
        (
            FUNCTION,
            Param("--runtime", required=True),
            Param("--handler", required=True),
            ZIP,
            Param("--role"),
            Param("--timeout", "integer"),
            Param("--memory-size", "integer"),
            Param("--environment", "structure", shape=ENVIRONMENT, nested_shorthand=True),
            Param("--description"),
        ),
        lambda c, kw: c.functions.create_function(**kw),
    ),
    Operation(
        "get-function", "GetFunction", (FUNCTION,), lambda c, kw: c.functions.get_function(**kw)
    ),
    Operation(
        "get-function-configuration",
        "GetFunctionConfiguration",
        (FUNCTION,),
        lambda c, kw: c.functions.get_function_configuration(**kw),
    ),
    Operation(
        "list-functions",
        "ListFunctions",
        (Param("--max-items", "integer"),),
        lambda c, kw: c.functions.list_functions(**kw),
    ),
    Operation(
        "update-function-code",
        "UpdateFunctionCode",
        (FUNCTION, ZIP),
        lambda c, kw: c.functions.update_function_code(**kw),
    ),
    Operation(
        "delete-function",
        "DeleteFunction",
        (FUNCTION,),
        lambda c, kw: c.functions.delete_function(**kw),
    ),
    Operation(
        "add-permission",
        "AddPermission",
        (
            FUNCTION,
            Param("--statement-id", required=True),
            Param("--action", required=True),
            Param("--principal", required=True),
            Param("--source-arn"),
            Param("--source-account"),
        ),
        lambda c, kw: c.functions.add_permission(**kw),
    ),
    Operation("get-policy", "GetPolicy", (FUNCTION,), lambda c, kw: c.functions.get_policy(**kw)),
    Operation(
        "remove-permission",
        "RemovePermission",
        (FUNCTION, Param("--statement-id", required=True)),
        lambda c, kw: c.functions.remove_permission(**kw),
    ),
    Operation(
        "invoke",
        "Invoke",
        (
            FUNCTION,
            Param("--payload", "blob"),
            Param("--invocation-type", choices=("RequestResponse", "Event", "DryRun")),
            Param("--log-type", choices=("None", "Tail")),
            Param("--cli-binary-format", choices=("base64", "raw-in-base64-out")),
        ),
        lambda c, kw: c.functions.invoke(
            kw["function_name"],
            _payload(kw.get("payload", b"{}"), kw.get("cli_binary_format")),
            kw.get("invocation_type", "RequestResponse"),
            kw.get("log_type", "None"),
        ),
        positional=("outfile",),
    ),
]


def _finish(
    operation: Operation, args: argparse.Namespace, values: dict[str, Any], response: Any
) -> Any:
    del args
    if operation.command != "invoke":
        return response
    write_outfile(values["outfile"], response.pop("Payload", b""))
    shown = {"StatusCode": response["StatusCode"]}  # aws-cli's order
    for key in ("FunctionError", "LogResult", "ExecutedVersion"):
        if key in response:
            shown[key] = response[key]
    return shown


def register(subparsers: Any) -> None:
    add_operations(
        subparsers,
        "lambda",
        "Local Lambda functions (aws lambda …) on the reference cloud",
        OPERATIONS,
        _finish,
    )
