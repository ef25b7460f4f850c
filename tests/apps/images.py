"""An app whose image uses every kind of build step; `probe` reports what its container sees.

The test writes this file into a temp dir next to `data/`, `app.conf` and `mylib/`, and
may replace MARKER to change one step.
"""

import json
import os
import pathlib
import subprocess

import squall

HERE = pathlib.Path(__file__).parent
MARKER = "first"


def write_marker(text):
    pathlib.Path("/from-run-function.txt").write_text(text)


image = (
    squall.Image.debian_slim()
    .apt_install("jq")
    .pip_install("six")
    .uv_pip_install("toolz")
    .run_commands(f"echo {MARKER} > /built.txt", "mkdir -p /work")
    .env({"GREETING": "hi"})
    .workdir("/work")
    .run_function(write_marker, args=("from-fn",))
    .add_local_file(HERE / "app.conf", "/etc/app.conf", copy=True)
    .add_local_dir(HERE / "data", "/data", ignore=["*.skip"])
    .add_local_python_source("mylib")
)
app = squall.App("images-itest", image=image)


@app.function()
def probe():
    import six
    import toolz

    import mylib

    return {
        "six": six.__version__,
        "toolz": toolz.__version__,
        "jq": subprocess.run(["jq", "--version"], capture_output=True, text=True).stdout.strip(),
        "built": pathlib.Path("/built.txt").read_text().strip(),
        "greeting": os.environ.get("GREETING"),
        "cwd": os.getcwd(),
        "run_function": pathlib.Path("/from-run-function.txt").read_text(),
        "app_conf": pathlib.Path("/etc/app.conf").read_text().strip(),
        "data": sorted(os.listdir("/data")),
        "data_x": pathlib.Path("/data/x.txt").read_text().strip(),
        "mylib": mylib.VALUE,
    }


@app.local_entrypoint()
def main():
    print("PROBE " + json.dumps(probe.remote()))
