"""An application's bulk recovery tasks: create (or count: a dry run), list, read, cancel; with their schemas.

The work runs in the background in the workers (`hookgate.outbound.task_runner`); a created task is answered
with 202 and read back for its progress.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Response
from pydantic import BaseModel, Field

from hookgate.api.auth import Auth
from hookgate.api.deps import HG, application, resource_router
from hookgate.api.schemas import Strict
from hookgate.models import Task

__all__ = ["router"]

router = resource_router("/api/v1/applications/{app_id}/tasks", "tasks")


class TaskIn(Strict):
    kind: Literal["resend", "replay_missing", "cancel_pending"] = Field(
        description="resend: queue existing deliveries again; replay_missing: create the deliveries an "
        "endpoint never had; cancel_pending: turn waiting deliveries dead"
    )
    endpoint_id: str | None = Field(default=None, description="one endpoint (required for replay_missing)")
    statuses: list[Literal["dead", "failed", "delivered"]] = Field(
        default_factory=list, max_length=3, description="resend: delivery statuses (default dead and failed)"
    )
    status_class: Literal["2xx", "3xx", "4xx", "5xx", "none"] | None = Field(
        default=None, description="resend: the class of the last attempt's answer (none: no answer)"
    )
    event_types: list[str] = Field(default_factory=list, max_length=100, description="exact event types")
    since: float | None = Field(default=None, description="created at or after (seconds since the epoch)")
    until: float | None = Field(default=None, description="created before (seconds since the epoch)")
    due_before: float | None = Field(
        default=None, description="cancel_pending (required): due before this time"
    )
    dry_run: bool = Field(default=False, description="only count what the task would change; store nothing")


class TaskFiltersOut(BaseModel):
    statuses: list[str]
    status_class: str | None
    event_types: list[str]
    since: float | None
    until: float | None
    due_before: float | None


class TaskOut(BaseModel):
    id: str
    app_id: str
    kind: str
    endpoint_id: str | None
    filters: TaskFiltersOut
    state: str = Field(description="pending, running, done, cancelled or failed")
    matched: int = Field(description="how many items matched when the task was created")
    done: int = Field(description="how many it has changed so far")
    error: str | None
    created_at: float
    updated_at: float


class TaskCount(BaseModel):
    dry_run: Literal[True] = True
    kind: str
    matched: int = Field(description="how many items the task would change now")


class TaskList(BaseModel):
    items: list[TaskOut]


def task_out(task: Task) -> TaskOut:
    f = task.filters
    return TaskOut(
        id=task.id,
        app_id=task.app_id,
        kind=task.kind.value,
        endpoint_id=task.endpoint_id,
        filters=TaskFiltersOut(
            statuses=[s.value for s in f.statuses],
            status_class=f.status_class,
            event_types=list(f.event_types),
            since=f.since,
            until=f.until,
            due_before=f.due_before,
        ),
        state=task.state.value,
        matched=task.matched,
        done=task.done,
        error=task.error,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


@router.post("", status_code=202, responses={200: {"model": TaskCount, "description": "dry run: the count"}})
async def create_task(
    app_id: str, body: TaskIn, who: Auth, hg: HG, response: Response
) -> TaskOut | TaskCount:
    """Start a bulk task (202, the task); with ``dry_run`` answer 200 with the count and start nothing."""
    await application(hg, who, app_id)
    task = await hg.create_task(
        app_id,
        body.kind,
        endpoint_id=body.endpoint_id,
        statuses=body.statuses,
        status_class=body.status_class,
        event_types=body.event_types,
        since=body.since,
        until=body.until,
        due_before=body.due_before,
        dry_run=body.dry_run,
    )
    if body.dry_run:
        response.status_code = 200
        return TaskCount(kind=task.kind.value, matched=task.matched)
    return task_out(task)


@router.get("")
async def list_tasks(
    app_id: str, who: Auth, hg: HG, limit: int = Query(default=50, ge=1, le=1000)
) -> TaskList:
    await application(hg, who, app_id)
    return TaskList(items=[task_out(t) for t in await hg.list_tasks(app_id, limit=limit)])


@router.get("/{task_id}")
async def get_task(app_id: str, task_id: str, who: Auth, hg: HG) -> TaskOut:
    await application(hg, who, app_id)
    return task_out(await hg.get_task(app_id, task_id))


@router.post("/{task_id}/cancel")
async def cancel_task(app_id: str, task_id: str, who: Auth, hg: HG) -> TaskOut:
    """Stop the task after its current batch; what it already changed stays changed."""
    await application(hg, who, app_id)
    return task_out(await hg.cancel_task(app_id, task_id))
