"""How the gateway maps a request to a web function: the path form, the host form with
--web-domain, `-dev` for apps that are not deployed, and only a deployed app's current version."""

from __future__ import annotations

import types

from squall._proto.squall.v1 import common_pb2 as pb
from squall._proto.squall.v1 import web_pb2
from squall.server.gateway import Gateway


class FakeStore:
    def __init__(self):
        self.apps = {}  # id -> (name, ephemeral)
        self.versions = {}  # app id -> {name: function id}

    def find_app(self, app_id):
        name, ephemeral = self.apps[app_id]
        return types.SimpleNamespace(id=app_id, name=name, ephemeral=ephemeral)

    def current_app_version(self, app_id):
        ids = self.versions.get(app_id)
        return types.SimpleNamespace(function_ids=ids) if ids is not None else None


class FakeCP:
    def __init__(self):
        self.store = FakeStore()
        self.functions = {}
        self.running_apps = set()

    def add(self, fid, app_id, label, kind="asgi_app"):
        d = pb.FunctionDefinition(function_name=fid)
        d.web.CopyFrom(web_pb2.WebEndpoint(kind=kind, label=label))
        self.functions[fid] = types.SimpleNamespace(function_id=fid, app_id=app_id, definition=d, parent_id=None, retired=False, superseded_by=None)

    def current_function(self, fn):
        return self.functions[fn.superseded_by]


def request(path: str, host: str = "127.0.0.1:7480"):
    return types.SimpleNamespace(host=host, raw_path=path)


def gateway(domain=None):
    cp = FakeCP()
    cp.store.apps = {"ap-dep": ("shop", False), "ap-dev1": ("shop", True), "ap-dev2": ("shop", True)}
    cp.running_apps = {"ap-dep", "ap-dev1", "ap-dev2"}
    cp.add("fu-v1", "ap-dep", "api")
    cp.add("fu-v2", "ap-dep", "api")  # created by a deploy that has not been published yet
    cp.store.versions["ap-dep"] = {"api": "fu-v1"}
    cp.add("fu-dev1", "ap-dev1", "api")
    cp.add("fu-dev2", "ap-dev2", "api")  # `squall serve` reloaded: the newer app wins
    g = Gateway(cp, None, "127.0.0.1", 0, domain)
    g.port = 7480
    return cp, g


def matched(g, *args):
    m = g._match(request(*args))
    return None if m is None else (m[0].function_id, m[1])


def test_path_form_and_dev_suffix():
    cp, g = gateway()
    assert matched(g, "/shop/api/items/1?x=2") == ("fu-v1", "/items/1")
    assert matched(g, "/shop/api") == ("fu-v1", "/")
    assert matched(g, "/shop/api-dev/") == ("fu-dev2", "/")
    assert matched(g, "/shop/nope/") is None and matched(g, "/") is None and matched(g, "/shop") is None
    assert g.url_for(cp.functions["fu-v1"]) == "http://127.0.0.1:7480/shop/api"
    assert g.url_for(cp.functions["fu-dev1"]) == "http://127.0.0.1:7480/shop/api-dev"


def test_a_published_version_takes_over_and_a_stopped_app_is_gone():
    cp, g = gateway()
    assert matched(g, "/shop/api/") == ("fu-v1", "/")
    cp.store.versions["ap-dep"] = {"api": "fu-v2"}
    cp.functions["fu-v1"].retired, cp.functions["fu-v1"].superseded_by = True, "fu-v2"
    assert matched(g, "/shop/api/") == ("fu-v2", "/")
    cp.running_apps.discard("ap-dev2")
    g._rebuilt_at = 0.0
    assert matched(g, "/shop/api-dev/") == ("fu-dev1", "/")


def test_host_form_with_a_web_domain():
    cp, g = gateway("apps.example.com")
    assert matched(g, "/x/y", "shop-api.apps.example.com") == ("fu-v1", "/x/y")
    assert matched(g, "/", "shop-api-dev.apps.example.com:8080") == ("fu-dev2", "/")
    assert matched(g, "/shop/api/z", "127.0.0.1:7480") == ("fu-v1", "/z")  # the path form still works
    assert matched(g, "/", "other.apps.example.com") is None
    assert g.url_for(cp.functions["fu-v1"]) == "http://shop-api.apps.example.com:7480"
