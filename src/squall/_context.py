"""Which input this thread of a container is running (for `squall.current_input_id()`)."""

import threading


class _Current(threading.local):
    input_id: str = ""
    call_id: str = ""


current = _Current()
