"""Real servers on 127.0.0.1 for the store tests: moto (S3) and nginx (WebDAV), stopped by pid."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid logs/nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;  fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;  scgi_temp_path tmp/scgi;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        location /cache/ {{
            root data;
            dav_methods PUT DELETE MKCOL;
            create_full_put_path on;
            dav_access user:rw group:rw all:r;
            client_max_body_size 0;
            client_body_buffer_size 1m;
            autoindex on;
            autoindex_format json;
        }}
        location /private/ {{
            root data;
            auth_basic "ddbuild cache";
            auth_basic_user_file htpasswd;
            dav_methods PUT DELETE MKCOL;
            create_full_put_path on;
            client_max_body_size 0;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


class Nginx:
    """nginx (daemon off): a WebDAV cache at /cache/ and one behind basic auth at /private/."""

    USER = "ci"
    PASSWORD = "letmein-0451"

    def __init__(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed")
        # Directly under /tmp and world-traversable: pytest's tmp dirs are 0700, and when the
        # master runs as root the workers run as nobody and must reach data/cache.
        self.prefix = prefix = Path(tempfile.mkdtemp(prefix="ddbuild-nginx-"))
        prefix.chmod(0o755)
        self.port = free_port()
        for sub in ("logs", "tmp", "data/cache", "data/private"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # workers run as nobody when the master is root
            for sub in ("cache", "private"):
                shutil.chown(prefix / "data" / sub, "nobody", "nogroup")
        (prefix / "htpasswd").write_text(f"{self.USER}:{{PLAIN}}{self.PASSWORD}\n")
        (prefix / "nginx.conf").write_text(NGINX_CONF.format(port=self.port))
        self.proc = subprocess.Popen(
            [binary, "-p", str(prefix), "-c", "nginx.conf", "-e", "logs/error.log"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.port)
        except RuntimeError:
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{self.port}/cache/"

    @property
    def data(self) -> Path:
        return self.prefix / "data" / "cache"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)  # fast stop of the master; workers follow
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)


class Moto:
    """moto's S3 server in-process (ThreadedMotoServer) with one bucket."""

    bucket = "ddbuild-test"

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        wait_for_port(self.port)
        self.endpoint = f"127.0.0.1:{self.port}"
        self.filesystem().create_dir(self.bucket)

    def filesystem(self):  # noqa: ANN201 - pyarrow type, imported lazily
        from pyarrow import fs

        return fs.S3FileSystem(
            access_key="testing",
            secret_key="testing",
            region="us-east-1",
            endpoint_override=self.endpoint,
            scheme="http",
            allow_bucket_creation=True,
            allow_delayed_open=True,
            connect_timeout=2,
            request_timeout=10,
            retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=1),
        )

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}?endpoint_override={self.endpoint}&scheme=http"

    def stop(self) -> None:
        self.server.stop()
