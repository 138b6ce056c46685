"""The local AWS emulator (moto server) for the benchmark: start, reset, stop.

Why a module: the driver needs the same dance the tests do: start moto's server on port 0
(through scripts/moto_serial.py, which serializes requests: moto's backends are not
thread-safe, and lakepass sends calls concurrently), read the port it picked from its log, poll
`POST /moto-api/reset` until it answers, and keep draining its log (a full pipe stalls the
server). The last lines of the log are kept, because a 500 from moto is only explained by
the traceback there.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request


class Moto:
    """A moto server on a free 127.0.0.1 port. Use as a context manager."""

    def __init__(self, command: list[str], *, log_lines: int = 200):
        self.command = command
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.log: collections.deque[str] = collections.deque(maxlen=log_lines)

    def start(self, timeout: float = 30.0) -> "Moto":
        env = dict(os.environ)
        env.pop("AWS_ENDPOINT_URL", None)
        self.proc = subprocess.Popen([*self.command, "-H", "127.0.0.1", "-p", "0"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        found = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.log.append(line.rstrip("\n"))
                m = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
                if m and not found.is_set():
                    self.url = m.group(1)
                    found.set()
            found.set()  # the server died: let start() notice

        threading.Thread(target=drain, name="moto-log", daemon=True).start()
        if not found.wait(timeout) or self.url is None:
            self.stop()
            raise RuntimeError("moto_server did not report its address:\n" + "\n".join(self.log))
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.reset()
                return self
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto_server does not answer:\n" + "\n".join(self.log))
                time.sleep(0.05)

    def reset(self) -> None:
        """Forgets everything (15-40 ms)."""
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()

    def tail(self, n: int = 30) -> str:
        return "\n".join(list(self.log)[-n:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> "Moto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
