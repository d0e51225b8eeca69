"""moto's server on 127.0.0.1, in a thread of this process: the emulated AWS APIs of the local stack."""

from __future__ import annotations

import logging
import os
import re
import urllib.request
from dataclasses import dataclass, field
from typing import Any

# moto accepts any credentials; these are never real ones.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105
    "AWS_SESSION_TOKEN": "testing",  # nosec B105
}


REGION_IN_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


class RegionOutage:
    """WSGI middleware in front of moto: every request signed for a region that is "down" is refused.

    The region is the one in the SigV4 credential scope, which every AWS SDK call carries. The answer is an
    HTTP 403 `RegionUnavailable`, which botocore does not retry, so a caller learns at once that the region
    is gone (a real outage looks like timeouts and 5xx, retried for a while first; the demo has no minutes
    to spare for that).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.down: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        match = REGION_IN_CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match and match.group(1) in self.down:
            region = match.group(1)
            body = (
                "<Response><Errors><Error><Code>RegionUnavailable</Code><Message>"
                f"{region} is down (the local stack took it down)</Message></Error></Errors></Response>"
            ).encode()
            start_response(
                "403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return self.app(environ, start_response)


@dataclass
class Emulator:
    """Start, reach and stop moto's ThreadedMotoServer; clients for it by service and region."""

    host: str = "127.0.0.1"
    port: int = 0
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, init=False)
    _session: Any = field(default=None, init=False)

    def start(self) -> str:
        # Before moto builds its EC2 backends: without this every region loads thousands of public AMIs.
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        from moto.server import ThreadedMotoServer

        from smart_vault.local import moto_fidelity

        moto_fidelity.apply()  # launching from a registered AMI creates its volumes, as in EC2

        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        server = self._server._server
        if server is None:  # start() has made it
            raise RuntimeError("the moto server did not start")
        self.outage = RegionOutage(server.app)
        server.app = self.outage
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto's state is per process: start from nothing even if an earlier stack ran in this process.
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        # Our own server on 127.0.0.1, plain http by construction.
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310  # nosec B310
            pass
        return self.url

    def client(self, service: str, region: str) -> Any:
        import boto3

        key = (service, region)
        if key not in self._clients:
            if self._session is None:
                self._session = boto3.session.Session()  # one session: building one costs ~0.2 s
            self._clients[key] = self._session.client(
                service,
                region_name=region,
                endpoint_url=self.url,
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            )
        return self._clients[key]

    def take_region_down(self, region: str) -> None:
        """From now on every AWS call for `region` is refused, as in a regional outage."""
        self.outage.down.add(region)

    def bring_region_back(self, region: str) -> None:
        self.outage.down.discard(region)

    def stop(self) -> None:
        self._server.stop()
        self._clients.clear()
