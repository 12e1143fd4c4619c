"""Fuzzing the command line: no input ends in an uncaught exception.

Hypothesis draws a sub-command of the registered command groups (from the CLI parser itself),
then options: the command's own or made-up names, with values of every kind: text, numbers,
aws-cli shorthand, JSON documents of odd types and depths, `file://` / `fileb://` to missing,
empty, binary, non-UTF-8, deeply nested or directory paths. Every run must end with exit 0, with
argparse's usage error (2), or with a `buttonrig:` error (255): never a traceback.

Runs in this process against a cloud home in tmp. Groups and commands that start processes
(emulators, boards, `cloud up`) are left out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rig.cli import build_parser
from rig.commands.awscli import Param
from rig.pytest_plugin.cli_runner import buttonrig

EXCLUDED_GROUPS = {"emulate", "board"}  # they start emulators and talk to boards
EXCLUDED_COMMANDS = {("cloud", "up")}  # runs a broker in the foreground


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps no public list of sub-commands
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for group, parser in _subparsers(build_parser()).items():
        if group in EXCLUDED_GROUPS:
            continue
        commands = _subparsers(parser)
        if not commands:
            found[(group,)] = parser
        for name, sub in commands.items():
            if (group, name) not in EXCLUDED_COMMANDS:
                found[(group, name)] = sub
    return found


COMMANDS = _commands()
NAMES = sorted(COMMANDS)


def _options(command: tuple[str, ...]) -> list[str]:
    return sorted(
        flag
        for action in COMMANDS[command]._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    )


def _switches(command: tuple[str, ...]) -> set[str]:
    """Options that take no value (--set-as-active, --no-set-as-active)."""
    return {
        flag
        for action in COMMANDS[command]._actions
        if action.nargs == 0
        for flag in action.option_strings
    }


def _positionals(command: tuple[str, ...]) -> list[str]:
    return [
        action.dest
        for action in COMMANDS[command]._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
    ]


def _members(command: tuple[str, ...]) -> list[str]:
    return [Param(flag).member for flag in _options(command) if not flag.startswith("--no-")]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from([1, 6, 7, 50, 900, 990, 1000, 3000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"state":', "}")]))
    return opener * depth + draw(st.sampled_from(["1", '"x"', "null", "{}", ""])) + closer * depth


@st.composite
def file_ref(draw: st.DrawFn, tmp: Path) -> str:
    scheme = draw(st.sampled_from(["file://", "fileb://"]))
    kind = draw(st.sampled_from(["missing", "empty", "binary", "latin1", "deep", "dir", "json"]))
    path = tmp / "inputs" / f"{kind}-{draw(st.integers(0, 3))}"
    path.parent.mkdir(exist_ok=True)
    if kind == "dir":
        path.mkdir(exist_ok=True)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(draw(st.binary(max_size=64)))
    elif kind == "latin1":
        path.write_bytes("caf\xe9 {\xff}".encode("latin-1"))
    elif kind == "deep":
        path.write_text(draw(deep_json()))
    elif kind == "json":
        path.write_text(json.dumps(draw(JSON_VALUES)))
    return scheme + str(path)


def outfile(tmp: Path) -> st.SearchStrategy[str]:
    """Where an outfile may go: confined to tmp (relative names land in tmp, the cwd)."""
    return st.sampled_from(
        ["out.json", "sub/missing/out.json", str(tmp), str(tmp / "inputs"), "/dev/null", ""]
    ) | st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8)


def value(tmp: Path, members: list[str]) -> st.SearchStrategy[str]:
    request = st.dictionaries(
        st.sampled_from(members) | st.text(max_size=8) if members else st.text(max_size=8),
        JSON_VALUES,
        max_size=5,
    )
    return st.one_of(
        st.text(max_size=30),
        st.integers().map(str),
        st.sampled_from(["true", "false", "-1", "0", "1e3", "EC", "RSA", "ACTIVE", "base64"]),
        st.sampled_from(["T", "Lights", "P", "buttonrig-cloud", "a" * 200]),  # names to meet again
        st.sampled_from(
            ["a=1,b=2", "attributes={a=1}", "a=", "=", ",", "merge=true", "a=b,c,d", "{", "["]
        ),
        JSON_VALUES.map(lambda v: json.dumps(v)),
        request.map(json.dumps),
        deep_json(),
        file_ref(tmp),
    )


@st.composite
def argv(draw: st.DrawFn, tmp: Path) -> list[str]:
    command = draw(st.sampled_from(NAMES))
    options, members, switches = _options(command), _members(command), _switches(command)
    args = list(command)
    for _ in range(draw(st.integers(0, 6))):
        if options and draw(st.integers(0, 29)) > 0:
            flag = draw(st.sampled_from(options))
        else:
            flag = "--" + draw(st.text(st.characters(categories=["Ll"]), min_size=1, max_size=8))
        args.append(flag)
        if flag.endswith("-outfile"):
            args.append(draw(outfile(tmp)))
        elif (flag not in switches) == (draw(st.integers(0, 19)) > 0):
            args.append(draw(value(tmp, members)))
    for _name in _positionals(command):
        if draw(st.booleans()):
            args.append(draw(outfile(tmp)))
    return args


@pytest.fixture
def cloud_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # relative outfiles land here
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return home


def test_fuzz_covers_the_command_groups() -> None:
    groups = {name[0] for name in NAMES}
    assert {"iot", "iot-data", "clicks", "cloud"} <= groups
    assert not groups & EXCLUDED_GROUPS and ("cloud", "up") not in NAMES


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_input_ends_in_a_traceback(cloud_home: Path, data: st.DataObject) -> None:
    args = data.draw(argv(cloud_home.parent), label="argv")
    result = buttonrig(cloud_home, *args, ok=False)  # an uncaught exception fails the test here
    event(f"exit {result.returncode}")  # --hypothesis-show-statistics: how far inputs got
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert "usage:" in result.stderr or result.stderr.startswith("buttonrig: "), result
    elif result.returncode == 255:
        assert result.stderr.startswith("buttonrig: "), result
    else:
        assert result.returncode == 0, result
