"""Web decorators and schedules are checked when the function is decorated."""

import pytest

import squall
from squall.exception import InvalidError


def one():
    return None


def Do_Thing(x: int):
    return x


def two():
    return None


def three():
    return None


def every():
    pass


def weekly():
    pass


def test_bad_method_label_and_port():
    with pytest.raises(InvalidError, match="method='FETCH'.*GET, POST"):
        squall.fastapi_endpoint(method="FETCH")
    with pytest.raises(InvalidError, match="label='My_API'.*lowercase letters, digits"):
        squall.asgi_app(label="My_API")
    with pytest.raises(InvalidError, match="port=70000.*1 to 65535"):
        squall.web_server(70000)
    with pytest.raises(InvalidError, match="startup_timeout=0"):
        squall.web_server(8000, startup_timeout=0)
    assert squall.web_endpoint is squall.fastapi_endpoint


def test_decorators_go_below_app_function_and_labels_are_unique():
    app = squall.App("web-unit")
    f1 = app.function()(squall.asgi_app(label="api")(one))
    assert f1._definition.web.kind == "asgi_app" and f1._definition.web.label == "api"
    f2 = app.function()(squall.fastapi_endpoint(method="post")(Do_Thing))
    assert f2._definition.web.label == "do-thing" and f2._definition.web.method == "POST"
    with pytest.raises(InvalidError, match="'one' and 'two' both have the label 'api'"):
        app.function()(squall.wsgi_app(label="api")(two))
    with pytest.raises(InvalidError, match="must come below @app.function"):
        squall.asgi_app()(app.function()(three))
    assert not app.registered_functions["one"]._definition.HasField("schedule")


def test_schedule_option():
    app = squall.App("sched-unit")
    f1 = app.function(schedule=squall.Period(minutes=5))(every)
    f2 = app.function(schedule=squall.Cron("0 8 * * 1", timezone="Europe/Berlin"))(weekly)
    assert f1._definition.schedule.period_s == 300
    assert f2._definition.schedule.cron == "0 8 * * 1" and f2._definition.schedule.timezone == "Europe/Berlin"
    with pytest.raises(InvalidError, match="schedule='hourly'.*Period"):
        app.function(schedule="hourly")(every)
