"""moto's own server, processing one request at a time.

moto 5.2.5's backends are not thread-safe: Lake Formation grants sent concurrently fail
with "RuntimeError: Set changed size during iteration" (HTTP 500). AWS takes concurrent
calls, and lakepass sends independent calls concurrently, so the tests and the benchmark
run moto's server application behind one lock: connections are still accepted
concurrently (and a latency proxy in front still overlaps its delays), while moto
processes the requests one after another, a few milliseconds each.

Usage: python scripts/moto_serial.py -H 127.0.0.1 -p 0   (the same flags as moto_server)
"""
import sys
import threading

from moto import server


class Serial:
    """A WSGI application that runs the wrapped one under a lock, body included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))

    def __getattr__(self, name):
        return getattr(self.app, name)


_dispatcher = server.DomainDispatcherApplication
server.DomainDispatcherApplication = lambda *args, **kwargs: Serial(_dispatcher(*args, **kwargs))
server.main(sys.argv[1:])
