"""gunicorn for production (`make serve`). Sync workers: measured best on 2 cores.

The arbiter also starts the background-job consumer (`flask jobs worker`) and restarts it if it
dies, so `make serve` is the only command; JOBS_CONSUMER=0 leaves it to another machine.
"""
import gc
import multiprocessing
import os
import subprocess
import sys
import threading
import time

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() + 1)))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # long work runs as a background job
graceful_timeout = 30
# Restart workers now and then (bounded memory); the jitter keeps two workers from restarting together.
max_requests = 2000
max_requests_jitter = 400
accesslog = "-"
# The app is loaded once in the arbiter and forked: a worker that dies (or is killed) is serving again in
# well under a second instead of loading Flask, SQLAlchemy and WeasyPrint anew; memory pages are shared.
# Each worker drops the inherited database pool at fork (post_fork) and opens its own connections.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") != "0"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

_consumer = {"proc": None, "stopping": False}


def _start_consumer(server):
    cmd = [sys.executable, "-m", "flask", "--app", "app:create_app", "jobs", "worker",
           "--workers", os.environ.get("JOBS_WORKERS", "2")]
    _consumer["proc"] = subprocess.Popen(cmd, env={**os.environ, "JOBS_IMMEDIATE": "0"})
    server.log.info("job consumer started (pid %s)", _consumer["proc"].pid)


_lock = threading.Lock()


def _watch_consumer(server):
    while not _consumer["stopping"]:
        proc = _consumer["proc"]
        if proc is not None and proc.poll() is not None and not _consumer["stopping"]:
            server.log.warning("job consumer exited (%s); restarting", proc.returncode)
            time.sleep(2)
            with _lock:  # on_exit may have run during the pause: never start one after it
                if not _consumer["stopping"]:
                    _start_consumer(server)
        time.sleep(1)


def when_ready(server):
    if os.environ.get("JOBS_CONSUMER", "1") == "0":
        return
    _start_consumer(server)
    threading.Thread(target=_watch_consumer, args=(server,), daemon=True).start()


def on_exit(server):
    with _lock:
        _consumer["stopping"] = True
    proc = _consumer["proc"]
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def post_fork(server, worker):
    # Each worker gets its own database connections (never the arbiter's: a connection shared by two
    # processes corrupts both), and a frozen GC generation keeps p99 low.
    if preload_app:
        app = server.app.wsgi()
        ext = getattr(app, "extensions", {}).get("sqlalchemy")  # the app's own, or the bench baseline's
        if ext is not None:
            with app.app_context():
                for engine in ext.engines.values():
                    engine.dispose(close=False)
    gc.freeze()


def post_worker_init(worker):
    # Load WeasyPrint and the PDF fonts before the first request, so a worker's first voucher is
    # as fast as the others (about 1 s of CPU at start instead of in someone's request).
    try:
        from blueprints.core import pdf

        pdf.warm_up()
    except Exception:  # a missing font must not keep the worker from serving pages
        worker.log.exception("PDF warm-up failed")
    gc.collect()
    gc.freeze()
