"""The production path started for measurement (`make bench`, `make reliability`), and a small HTTP client.

Server: gunicorn -c gunicorn.conf.py "app:create_app()" in a session of its own, on 127.0.0.1 and a
free port, with the given environment; it waits for /healthz and for every worker. Client: a cookie
jar that logs in through the real forms (CSRF token, and the second factor of an official when the
caller gives a TOTP secret).
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn with the app's gunicorn.conf.py (or another WSGI target) and `workers` sync workers."""

    def __init__(self, env: dict, log_path: Path, workers: int = 4, target: tuple[str, ...] = ("app:create_app()",),
                 probe: str = "/healthz"):
        self.port, self.wanted = free_port(), workers
        env = dict(env, WEB_CONCURRENCY=str(workers), HOST="127.0.0.1", PORT=str(self.port))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.logfile = open(log_path, "w")
        self.proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", *target], cwd=ROOT, env=env,
                                     stdout=self.logfile, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(probe)

    def wait_ready(self, probe: str = "/healthz", timeout: float = 90) -> float:
        """Seconds until the probe answers 200 with every worker up; SystemExit when it never does."""
        start = time.time()
        while time.time() < start + timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited at start-up: see {self.logfile.name}")
            try:
                if request(self.port, "GET", probe, timeout=5)[0] == 200 and len(self.workers()) >= self.wanted:
                    return time.time() - start
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"server did not answer on port {self.port}: see {self.logfile.name}")

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            return [int(x) for x in text.split()]
        except OSError:
            return []

    @staticmethod
    def _is_consumer(pid: int) -> bool:
        try:
            return b"jobs" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False

    def workers(self) -> list[int]:
        """The gunicorn workers (the arbiter's other child is the job consumer, gunicorn.conf.py)."""
        return [p for p in self.children() if not self._is_consumer(p)]

    def consumer(self) -> int | None:
        return next((p for p in self.children() if self._is_consumer(p)), None)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own session: gunicorn and its workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if not self.logfile.closed:
            self.logfile.close()


def request(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
            timeout: float = 30):
    """(status, headers, body) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.msg, data
    finally:
        conn.close()


def get(port: int, path: str, cookie: str = "", timeout: float = 30, headers: dict | None = None):
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = cookie
    return request(port, "GET", path, h, timeout=timeout)


def _cookies(msg, jar: dict) -> dict:
    for raw in msg.get_all("Set-Cookie") or []:
        for name, morsel in SimpleCookie(raw).items():
            jar[name] = morsel.value
    return jar


def csrf_token(body: bytes) -> str:
    field = re.search(rb'<input[^>]*name="csrf_token"[^>]*>', body)
    return re.search(rb'value="([^"]+)"', field.group(0)).group(1).decode() if field else ""


class Client:
    """A browser-like session against one server: cookies kept, forms posted with their CSRF token."""

    def __init__(self, port: int):
        self.port, self.jar = port, {}

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def get(self, path: str, headers: dict | None = None, timeout: float = 30):
        status, msg, body = get(self.port, path, self.cookie, timeout, headers)
        _cookies(msg, self.jar)
        return status, msg, body

    def post(self, path: str, fields: dict, token_from: str | None = None, headers: dict | None = None,
             timeout: float = 30):
        """POST a form; the CSRF token is read from `token_from` (a page) unless fields carry one."""
        fields = dict(fields)
        if "csrf_token" not in fields and token_from is not None:
            fields["csrf_token"] = csrf_token(self.get(token_from)[2])
        h = {"Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        status, msg, body = request(self.port, "POST", path, h, urlencode(fields).encode(), timeout)
        _cookies(msg, self.jar)
        return status, msg, body

    def login(self, username: str, password: str, totp_secret: str | None = None) -> int:
        """The status of the password step (303 when logged in); with totp_secret, the code step too."""
        status, msg, _ = self.post("/login", {"username": username, "password": password}, token_from="/login")
        location = urlsplit(msg.get("Location") or "").path
        if status in (302, 303) and totp_secret and location.startswith("/login/") and location != "/login/":
            import pyotp

            totp = pyotp.TOTP(totp_secret)
            status, msg, _ = self.post(location, {"code": totp.now()}, token_from=location)
            if status != 303:  # a code is spent once: a second login in the same 30 s step waits for the next
                time.sleep(30 - time.time() % 30 + 0.5)
                status, msg, _ = self.post(location, {"code": totp.now()}, token_from=location)
        return status


def login(port: int, username: str, password: str, totp_secret: str | None = None) -> str:
    """The Cookie header of a logged-in session; SystemExit when the login fails."""
    c = Client(port)
    status = c.login(username, password, totp_secret)
    if status != 303:
        raise SystemExit(f"login as {username} failed: HTTP {status}")
    return c.cookie
