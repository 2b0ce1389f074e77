"""The README's first two commands, as a newcomer runs them: in a clean clone, in a fresh virtualenv.

The commands are read from the README's first ``sh`` block, so this test follows the README. Both install
packages, so ``.ci/run`` runs them (the first in a fresh ``git clone`` of the committed tree, checking what a
newcomer would see; the second is CI's own test command) and this test checks that it runs them verbatim. The
suite itself never reaches a package index.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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


def test_ci_runs_both_readme_commands_verbatim() -> None:
    """CI (``.ci/run``) runs the README's two commands exactly as written: the first in a fresh clone of the
    committed tree with the newcomer's checks on its output, the second (the test command) in CI's checkout.

    They are run there, not from here, because both install packages: the test suite itself never reaches a
    package index.
    """
    first, second = readme_commands()[:2]
    # the commands the rest of this test is about (if the README changes them, this test must change too)
    assert first.startswith("python3 -m venv .venv && "), first
    assert first.endswith("sh examples/roundtrip.sh"), first
    assert second.startswith("python3 -m venv .venv && "), second
    assert "pytest" in second, second
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    commands = [line for line in ci if line and not line.startswith("#")]
    assert second in commands, second
    # the first runs inside the clean clone, with its output kept for the checks that follow it
    (clone_line,) = [line for line in commands if first in line]
    assert clone_line.startswith('(cd "$clone" && '), clone_line
    assert any("round trip OK" in line for line in commands)
    assert any("delivery OK" in line for line in commands)


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


# imported by a runtime dependency only when it happens to be installed (structlog tries greenlet, which
# playwright, a test dependency, brings): a runtime install without it works the same
_OPPORTUNISTIC = frozenset({"greenlet"})


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
        if dist not in allowed and module not in _OPPORTUNISTIC
    }
    assert not missing, f"imported by hookgate.cli but not a runtime dependency: {sorted(missing)}"
