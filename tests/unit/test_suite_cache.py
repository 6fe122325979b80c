"""scripts/suite_cache.py: an unchanged rerun of test.sh is answered from the last green run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("suite_cache", ROOT / "scripts/suite_cache.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cache = _load()

GREEN = '<testsuites><testsuite tests="5" failures="0" errors="0" skipped="1"/></testsuites>'
RED = '<testsuites><testsuite tests="5" failures="1" errors="0" skipped="0"/></testsuites>'


@pytest.fixture(autouse=True)
def _not_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """`.ci/run` runs the whole suite with HOMEHUB_TESTS_FORCE=1; these tests set it themselves."""
    monkeypatch.delenv("HOMEHUB_TESTS_FORCE", raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git checkout with one tracked file and an ignored folder."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text(".homehub/\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    return tmp_path


def _green_run(repo: Path, args: list[str], junit: str = GREEN) -> None:
    assert cache.check(repo, args) == 1
    junit_file = repo / ".homehub" / "junit.xml"
    junit_file.write_text(junit)
    cache.record(repo, args, junit_file, time.time() - 3)


def test_a_rerun_on_the_same_inputs_says_what_passed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _green_run(repo, ["-q"])
    assert cache.check(repo, ["-q"]) == 0
    err = capsys.readouterr().err
    assert "4 passed, 1 skipped" in err
    assert "--force" in err


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r / "a.py").write_text("x = 2\n"),
        lambda r: (r / "new.py").write_text("untracked but not ignored\n"),
        lambda r: (r / "a.py").unlink(),
        lambda r: (r / "a.py").chmod(0o755),
    ],
    ids=["edited", "untracked-file", "deleted", "made-executable"],
)
def test_any_change_to_the_files_runs_the_suite(repo: Path, change: object) -> None:
    _green_run(repo, [])
    change(repo)  # type: ignore[operator]
    assert cache.check(repo, []) == 1


def test_ignored_files_do_not_count(repo: Path) -> None:
    _green_run(repo, [])
    (repo / ".homehub" / "lab.log").write_text("written by the suite\n")
    assert cache.check(repo, []) == 0


def test_other_arguments_run_the_suite(repo: Path) -> None:
    _green_run(repo, ["tests/unit"])
    assert cache.check(repo, ["tests/lab"]) == 1


def test_a_red_run_is_not_remembered(repo: Path) -> None:
    _green_run(repo, [], junit=RED)
    assert cache.check(repo, []) == 1


def test_force_runs_the_suite(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _green_run(repo, [])
    monkeypatch.setenv("HOMEHUB_TESTS_FORCE", "1")
    assert cache.check(repo, []) == 1


def test_a_run_that_changed_its_own_inputs_is_not_remembered(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cache.check(repo, []) == 1
    (repo / "a.py").write_text("the suite wrote this\n")
    (repo / ".homehub" / "junit.xml").write_text(GREEN)
    cache.record(repo, [], repo / ".homehub" / "junit.xml", time.time())
    assert "not remembered" in capsys.readouterr().err
    assert cache.check(repo, []) == 1


def test_other_python_packages_run_the_suite(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _green_run(repo, [])
    real = cache._run
    monkeypatch.setattr(
        cache, "_run", lambda argv, root: real(argv, root) + ("extra==1\n" if "pip" in argv else "")
    )
    assert cache.check(repo, []) == 1


def test_outside_a_git_checkout_nothing_is_cached(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(GREEN)
    assert cache.check(tmp_path, []) == 1
    cache.record(tmp_path, [], tmp_path / "junit.xml", time.time())
    assert cache.check(tmp_path, []) == 1


def test_the_command_line(repo: Path) -> None:
    script = ROOT / "scripts/suite_cache.py"
    run = subprocess.run(
        [sys.executable, str(script), "check", "-q"], cwd=repo, capture_output=True, check=False
    )
    assert run.returncode == 1
    bad = subprocess.run(
        [sys.executable, str(script), "nonsense"], cwd=repo, capture_output=True, check=False
    )
    assert bad.returncode == 2
