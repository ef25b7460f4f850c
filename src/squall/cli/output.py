"""Terminal output: the rich console, log lines prefixed by function and container, progress bars."""

from __future__ import annotations

import sys
import threading

from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, highlight=False)
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)  # tables stay whole in pipes and logs
_print_lock = threading.Lock()


def log_line(function_name: str, container_id: str, stream: str, text: str) -> None:
    prefix = f"[{function_name} {container_id}]"
    with _print_lock:
        if stream == "stderr":
            sys.stderr.write(f"{prefix} {text}\n")
            sys.stderr.flush()
        else:
            sys.stdout.write(f"{prefix} {text}\n")
            sys.stdout.flush()


class MapProgress:
    """Draws a bar per running .map() when stderr is a terminal; prints image build output."""

    def image_log(self, image: str, line: str) -> None:
        with _print_lock:
            console.print(Text.assemble((f"[build {image}] ", "dim"), line), soft_wrap=True)

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._active = 0
        self._lock = threading.Lock()

    def map_started(self, name: str):
        if not console.is_terminal:
            return None
        with self._lock:
            if self._progress is None:
                self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
                self._progress.start()
            self._active += 1
            return self._progress.add_task(f"{name}.map", total=None)

    def map_update(self, handle, done: int, total: int | None) -> None:
        if handle is not None and self._progress is not None:
            self._progress.update(handle, completed=done, total=total)

    def map_finished(self, handle) -> None:
        if handle is None or self._progress is None:
            return
        with self._lock:
            self._progress.remove_task(handle)
            self._active -= 1
            if self._active == 0:
                self._progress.stop()
                self._progress = None
