"""`hookgate tasks create|list|show|cancel` against a real ``hookgate serve`` (its workers run the tasks)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from tests.cli.conftest import ok_json

pytestmark = pytest.mark.slow


def test_replay_missing_dry_run_then_wait_for_it(cli: Callable[..., Result]) -> None:
    cli("apps", "create", "Tasks", "--id", "task-app")
    cli("endpoints", "create", "task-app", "https://first.example.test/h", "--json")
    for event_type in ("a.one", "a.two", "b.one"):
        assert cli("send", "task-app", event_type, "--data", "{}").exit_code == 0
    late = ok_json(
        cli("endpoints", "create", "task-app", "https://late.example.test/h", "--event-type", "a.*", "--json")
    )
    endpoint_id = late["endpoint"]["id"]

    dry = cli("tasks", "create", "task-app", "replay_missing", "--endpoint", endpoint_id, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.strip() == "dry run: replay_missing would change 2"

    waited = cli("tasks", "create", "task-app", "replay_missing", "--endpoint", endpoint_id, "--wait")
    assert waited.exit_code == 0, waited.stderr
    last = waited.stdout.strip().splitlines()[-1]
    assert last.startswith("task_")
    assert last.endswith(": done, 2 of 2 done")
    task_id = last.split(":")[0]

    shown = ok_json(cli("tasks", "show", "task-app", task_id, "--json"))
    assert (shown["kind"], shown["endpoint_id"], shown["state"]) == ("replay_missing", endpoint_id, "done")
    listed = ok_json(cli("tasks", "list", "task-app", "--json"))
    assert [t["id"] for t in listed] == [task_id]
    cancelled = cli("tasks", "cancel", "task-app", task_id)
    assert cancelled.stdout.strip() == f"{task_id}: done, 2 of 2 done"
    missing = cli("tasks", "create", "task-app", "replay_missing")
    assert missing.exit_code == 1
    assert "replay_missing needs an endpoint_id" in missing.stderr
