"""`squall schedule list [APP]`: the schedules of deployed apps, their next run and recent runs."""

from __future__ import annotations

import click
from rich.table import Table

from squall._proto.squall.v1 import web_pb2
from squall.cli._common import friendly_errors, when
from squall.cli.output import out
from squall.cli.web import web_call


@click.group()
def schedule() -> None:
    """Scheduled functions (schedule=Period(...) or Cron(...)) of deployed apps."""


@schedule.command("list")
@click.argument("app", required=False, default="")
@click.option("--runs", "max_runs", default=5, show_default=True, help="recent runs to show per schedule")
@friendly_errors
def list_schedules(app: str, max_runs: int) -> None:
    """List schedules (of APP, an id or name; default every deployed app) and their recent runs."""
    resp = web_call("ScheduleList", web_pb2.ScheduleListRequest(app=app, max_runs=max_runs))
    if not resp.schedules:
        out.print("No schedules: they run for deployed apps (`squall deploy`) whose functions have schedule=Period(...) or Cron(...).")
        return
    table = Table("App", "Function", "Schedule", "Next run", "Recent runs (newest first)")
    for s in resp.schedules:
        runs = "\n".join(f"{when(r.started_at)} {r.status}{' (catch-up)' if r.catch_up else ''} {r.call_id}" for r in s.runs) or "-"
        table.add_row(s.app_name, s.function_name, s.spec, when(s.next_run_at), runs)
    out.print(table)
