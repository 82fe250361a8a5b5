"""`strangler jobs ...`: see the background jobs that kept failing, and send them again."""

from __future__ import annotations

from typing import Annotated

import typer
from redis import Redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from strangler.settings import Settings

app = typer.Typer(help="Parked (failed) background jobs: list and requeue.", no_args_is_help=True)

QueueName = Annotated[str, typer.Option("--queue", help="notifications, analytics, catalog")]


def _registry(ctx: typer.Context, queue: str) -> tuple[Redis, FailedJobRegistry]:
    settings: Settings = ctx.obj
    redis = Redis.from_url(settings.shop_redis_url)
    return redis, FailedJobRegistry(queue=Queue(f"{settings.namespace}-{queue}", connection=redis))


@app.command()
def failed(ctx: typer.Context, queue: QueueName = "notifications") -> None:
    """Jobs that failed every retry, with their last error."""
    redis, registry = _registry(ctx, queue)
    ids = registry.get_job_ids()
    if not ids:
        typer.echo(f"no failed jobs on {queue}")
        return
    for job in Job.fetch_many(ids, connection=redis):
        if job is None:
            continue
        result = job.latest_result()
        error = (result.exc_string or "") if result is not None else ""
        last_line = error.strip().splitlines()[-1:]
        typer.echo(f"{job.id}  {job.func_name}  {last_line[0] if last_line else ''}")


@app.command()
def requeue(
    ctx: typer.Context,
    job_ids: Annotated[list[str] | None, typer.Argument(help="Jobs to send again.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every failed job of the queue.")] = False,
    queue: QueueName = "notifications",
) -> None:
    """Put parked jobs back on their queue (after fixing what made them fail)."""
    _redis, registry = _registry(ctx, queue)
    if not every and not job_ids:
        typer.secho("error: name the jobs to requeue, or pass --all", err=True, fg="red")
        raise typer.Exit(2)
    wanted = registry.get_job_ids() if every else (job_ids or [])
    if not wanted:
        typer.echo(f"no failed jobs on {queue}")
        return
    refused = 0
    for job_id in wanted:
        try:
            registry.requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation) as exc:
            typer.secho(f"error: {job_id}: not a failed job of {queue} ({exc})", err=True, fg="red")
            refused += 1
            continue
        typer.echo(f"requeued {job_id}")
    if refused:
        raise typer.Exit(1)
