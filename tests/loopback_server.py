"""The HTTP plumbing the fake servers share: a threaded server on a free loopback port whose
handler passes every request of the listed methods to `self._handle(handler, method)`.

    class FakeThing(LoopbackServer):
        methods = ("GET", "POST")
        def _handle(self, h, method): ...

    with FakeThing() as fake:   # or fake = FakeThing().start(); ...; fake.stop()
        fake.root               # "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    methods: tuple[str, ...] = ("POST",)

    def __init__(self):
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def root(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def start(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

        for method in self.methods:
            setattr(Handler, f"do_{method}", lambda h, method=method: server._handle(h, method))
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
