"""An app with schedules, for the schedule tests: `tick` runs every second once deployed and
records each run in a Dict; `yearly` is a cron schedule that will not come due in a test."""

import time

import modal  # resolves to squall: the file is written as a Modal user would

app = modal.App("scheduled")


@app.function(schedule=modal.Period(seconds=1))
def tick():
    modal.Dict.from_name("schedule-ticks", create_if_missing=True)[f"{time.time():.6f}"] = modal.current_input_id()


@app.function(schedule=modal.Cron("0 0 1 1 *", timezone="UTC"))
def yearly():
    raise RuntimeError("a yearly schedule must not run during a test")
