"""Who this process is when it holds a lease (the correlator's, an outbox claim).

One id per process: host, pid and a random part (a pid is reused after a restart; the
random part tells the new process from the one whose lease it finds).
"""

from __future__ import annotations

import os
import socket
import uuid

_HOLDER = f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def process_holder() -> str:
    return _HOLDER


class LeaseLost(Exception):
    """Another replica took the lease over: this one's view is stale, its write is refused."""
