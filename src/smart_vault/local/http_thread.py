"""An HTTP server of the local stack, served from a daemon thread on 127.0.0.1."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Generic, TypeVar

# How often serve_forever checks for shutdown: short, so that stopping the stack is quick.
_POLL_SECONDS = 0.05

B = TypeVar("B")


class BackendServer(ThreadingHTTPServer, Generic[B]):
    """A threading HTTP server whose request handlers reach what they serve as `self.server.backend`."""

    daemon_threads = True

    def __init__(self, backend: B, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self.backend = backend
        super().__init__((host, port), handler)


class ServerThread:
    """Serves `server` in a background thread; `stop()` shuts it down, closes it and joins the thread."""

    def __init__(self, server: ThreadingHTTPServer, name: str) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(_POLL_SECONDS,), name=name, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"  # an AF_INET server: the host is a str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


class Endpoint(Generic[B]):
    """`backend` served over HTTP on `host:port` (port 0: a free one) from a background thread, each request
    answered by the subclass's `handler`."""

    handler: type[BaseHTTPRequestHandler]
    thread_name: str

    def __init__(self, backend: B, host: str = "127.0.0.1", port: int = 0) -> None:
        self.backend, self.host, self.port = backend, host, port

    def start(self) -> str:
        server = BackendServer(self.backend, self.host, self.port, self.handler)
        self._running = ServerThread(server, self.thread_name)
        return self.url

    @property
    def url(self) -> str:
        return self._running.base_url

    def stop(self) -> None:
        self._running.stop()
