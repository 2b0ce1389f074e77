"""The README's first two commands, as a newcomer runs them: in a clean clone, in a fresh virtualenv.

The commands are read from the README's first ``sh`` block, so this test follows the README. The first one
(install, then ``examples/roundtrip.sh``) is run for real in a ``git clone`` of the committed HEAD. The
second one installs the test extras and runs the whole suite: running the suite from inside the suite would
recurse, so instead ``.ci/run`` must run that exact command, and the install part of it must resolve
(``pip install --dry-run`` in the virtualenv the first command made).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_commands() -> list[str]:
    match = FENCE.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert match is not None, "README.md has no ```sh block"
    commands = [line.strip() for line in match.group(1).splitlines() if line.strip()]
    assert len(commands) >= 2, commands
    return commands


def clean_env() -> dict[str, str]:
    """The caller's environment without anything that would make the clone use this checkout or its venv."""
    drop = ("HOOKGATE_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


def run(command: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the README's own command, through sh as a reader would type it
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_readme_commands_from_a_clean_clone(tmp_path: Path) -> None:
    git = shutil.which("git")
    assert git is not None, "git is needed to clone the repository"
    first, second = readme_commands()[:2]
    # the commands the rest of this test is about (if the README changes them, this test must change too)
    assert first.startswith("python3 -m venv .venv && "), first
    assert first.endswith("sh examples/roundtrip.sh"), first
    assert second.startswith("python3 -m venv .venv && "), second

    clone = tmp_path / "hookgate"
    subprocess.run([git, "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)  # noqa: S603
    assert not (clone / ".venv").exists()

    # 1: install and run the main job, exactly as written
    done = run(first, clone, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert "round trip OK" in lines, output
    assert lines[-1] == "delivery OK", output
    assert lines.index("round trip OK") < len(lines) - 1
    assert (clone / ".venv" / "bin" / "hookgate").exists()

    # 2: CI runs the README's test command verbatim (an uncommented line of .ci/run)...
    ci = (clone / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert second in [line.strip() for line in ci if not line.lstrip().startswith("#")], second
    # ... and its install step resolves in the virtualenv the first command made
    install = next(part.strip() for part in second.split("&&") if " install " in part)
    args = shlex.split(install)
    assert args[:2] == [".venv/bin/pip", "install"], install
    # without -q: the "Would install" line is the evidence that it resolved
    rest = [a for a in args[2:] if a not in {"-q", "--quiet"}]
    dry = run(shlex.join([*args[:2], "--dry-run", *rest]), clone, timeout=600)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "pytest" in dry.stdout, dry.stdout  # "Would install ... pytest-..." (not installed yet)


def _runtime_closure() -> set[str]:
    """Normalised names of hookgate's runtime requirements (no extras), followed transitively."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = ["hookgate"]
    while todo:
        name = todo.pop()
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for raw in requires:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue  # an optional extra (e.g. hookgate[test]) or another platform's dependency
            key = canonicalize_name(req.name)
            if key not in seen:
                seen.add(key)
                todo.append(key)
    return seen


def test_cli_imports_only_runtime_dependencies() -> None:
    """What ``import hookgate.cli`` loads must come with ``pip install .`` (the README's first command)."""
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    # top-level modules loaded by importing the CLI, minus what the interpreter loads on its own (.pth hooks)
    probe = (
        "import sys; before = set(sys.modules); import hookgate.cli;"
        " print('\\n'.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60, env=clean_env()
    )
    owners = packages_distributions()
    allowed = _runtime_closure() | {"hookgate"}
    missing = {
        (module, dist)
        for module in done.stdout.split()
        for dist in map(canonicalize_name, owners.get(module, []))
        if dist not in allowed
    }
    assert not missing, f"imported by hookgate.cli but not a runtime dependency: {sorted(missing)}"
