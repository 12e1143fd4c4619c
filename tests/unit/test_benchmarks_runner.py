"""rig/benchmarks: the runner keeps no stale figure, and `min_heap`'s bisection finds the
smallest heap that passes with few sessions (the sessions themselves run in `make benchmark`)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

from rig.benchmarks import __main__ as runner
from rig.benchmarks.min_heap import HeapProbe, SessionFailed, smallest_passing

MODULES = {
    "good": 'METRICS = ("good_ms",)\ndef run(ctx):\n    return {"good_ms": 2}\n',
    "broken": 'METRICS = ("broken_ms",)\ndef run(ctx):\n    raise RuntimeError("no broker")\n',
    "other": 'METRICS = ("other_ms",)\ndef run(ctx):\n    return {"other_ms": 3}\n',
    "sloppy": 'METRICS = ("sloppy_ms",)\ndef run(ctx):\n    return {"sloppy_ms": 1, "extra": 1}\n',
}


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    root = tmp_path / "fakebench"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name, source in MODULES.items():
        (root / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module("fakebench")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "benchmark.json"
    stale = {"good_ms": 1, "broken_ms": 1, "other_ms": 1, "sloppy_ms": 1, "renamed_ms": 1}
    path.write_text(json.dumps(stale))
    return path


def test_a_failed_module_leaves_none_of_its_old_figures(package: ModuleType, out: Path) -> None:
    assert runner.main(["--only", "broken", "--out", str(out)], package=package) == 1
    # the modules not run keep theirs; the failed one's and a figure nobody declares are gone
    assert json.loads(out.read_text()) == {"good_ms": 1, "other_ms": 1, "sloppy_ms": 1}


def test_a_module_run_again_replaces_its_figures(package: ModuleType, out: Path) -> None:
    assert runner.main(["--only", "good", "--out", str(out)], package=package) == 0
    assert json.loads(out.read_text()) == {
        "good_ms": 2,
        "broken_ms": 1,
        "other_ms": 1,
        "sloppy_ms": 1,
    }


def test_an_undeclared_figure_fails_the_module(package: ModuleType, out: Path) -> None:
    assert runner.main(["--only", "sloppy", "--out", str(out)], package=package) == 1
    assert "sloppy_ms" not in json.loads(out.read_text())


def test_a_full_run_writes_only_what_it_measured(package: ModuleType, out: Path) -> None:
    assert runner.main(["--out", str(out)], package=package) == 1
    assert json.loads(out.read_text()) == {"good_ms": 2, "other_ms": 3}


def test_every_real_benchmark_module_declares_its_figures() -> None:
    import pkgutil

    from rig import benchmarks

    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"rig.benchmarks.{info.name}")
            assert runner.declared(module), info.name


class _Threshold:
    """passes(kb) for a firmware that needs `need` KB; counts the sizes tried."""

    def __init__(self, need: int) -> None:
        self.need = need
        self.tried: list[int] = []

    def __call__(self, kb: int) -> bool:
        self.tried.append(kb)
        return kb >= self.need


@pytest.mark.parametrize("need", [33, 36, 37, 96, 127, 128, 129, 160])
def test_the_bisection_finds_the_smallest_passing_multiple_of_the_step(need: int) -> None:
    passes = _Threshold(need)
    found = smallest_passing(32, 160, 4, passes)
    assert found == 32 + -(-(need - 32) // 4) * 4  # need rounded up to the 4 KB grid
    assert passes.tried[0] == 160  # the ceiling is checked first
    assert 32 not in passes.tried  # the floor is taken to fail, never run
    assert len(passes.tried) <= 1 + 5  # log2(128 / 4) sessions after the ceiling
    assert all((kb - 32) % 4 == 0 for kb in passes.tried)


def test_the_bisection_refuses_a_ceiling_that_fails() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        smallest_passing(32, 160, 4, _Threshold(200))


def test_the_bisection_refuses_bounds_off_the_grid() -> None:
    with pytest.raises(ValueError, match="multiple"):
        smallest_passing(32, 162, 4, _Threshold(100))


class _ScriptedSession:
    """Session.run stand-in: each call takes the next outcome ("ok", "timeout", "memory")."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes
        self.runs = 0

    def run(self, kb: int) -> None:
        outcome = self.outcomes[self.runs]
        self.runs += 1
        if outcome == "timeout":
            raise SessionFailed(f"{kb}K: ExpectTimeout", by_firmware=False)
        if outcome == "memory":
            raise SessionFailed(f"{kb}K: MemoryError", by_firmware=True)


@pytest.mark.parametrize(
    ("outcomes", "passes", "runs"),
    [
        (["ok", "ok"], True, 2),  # both repeats pass
        (["ok", "memory"], False, 2),  # the second repeat runs out of memory: fails
        (["memory"], False, 1),  # a firmware failure is not retried
        (["timeout", "ok", "ok"], True, 3),  # a time-out alone is retried once
        (["timeout", "timeout"], False, 2),  # ...but not twice
    ],
)
def test_a_size_passes_only_when_every_repeat_passes(
    outcomes: list[str], passes: bool, runs: int
) -> None:
    session = _ScriptedSession(outcomes)
    probe = HeapProbe(session, repeats=2)  # type: ignore[arg-type]  # has what HeapProbe uses
    assert probe.passes(128) is passes
    assert session.runs == runs
