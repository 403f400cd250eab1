"""Gunicorn settings read automatically when gunicorn starts in the repository root (`make play`).

Each open game socket (webapp/api/socket.py) holds one of a gthread worker's threads for as
long as it is open. `post_worker_init` tells the app how many it may accept: the worker's
threads minus `THREADS_FOR_REQUESTS`, so pages, the HTTP fallback and the beacon always find a
free thread however many players hold sockets (a sync worker, with one thread, takes none: its
pages play over HTTP).

A request whose declared body is larger than the app will read gets 413 from Flask. The app
says ``Connection: close``, but gunicorn drops hop-by-hop headers from applications and decides
itself; without this hook it answers ``keep-alive`` and must drain the unread body before the
next request. Marking such a request to close makes gunicorn answer ``Connection: close`` and
drop the connection instead of reading what the client still sends.
"""

import gc
from pathlib import Path

from gunicorn.workers.gthread import ThreadWorker

from webapp.config import default_workers, from_env, max_body_bytes

#: threads of each worker that game sockets may never take
THREADS_FOR_REQUESTS = 16

#: one per core on PostgreSQL with a shared rate-limit store, else one (`default_workers`);
#: ``--workers`` on the command line or ``DA_WORKERS`` overrides it
workers = default_workers(from_env(str(Path(__file__).resolve().parent / "instance")))


def post_worker_init(worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    app = worker.wsgi
    settle_heap(app)
    threads = worker.cfg.threads if isinstance(worker, ThreadWorker) else 1
    app.config["MAX_SOCKETS"] = min(int(app.config["MAX_SOCKETS"]),
                                    max(0, threads - THREADS_FOR_REQUESTS))


def pre_request(worker, req):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    for name, value in req.headers:
        if name == "CONTENT-LENGTH" and value.isdigit() and int(value) > max_body_bytes():
            req.force_close()


def settle_heap(app) -> None:  # noqa: ANN001 - the Flask app
    """Load the classifier now, then move everything alive into the garbage collector's
    permanent generation (`gc.freeze`). Otherwise each full collection walks the whole heap
    (torch, SQLAlchemy, Flask, the threads): under load those collections stopped the process
    for 60–190 ms each, every few seconds; after a freeze they take 14–24 ms (docs/load.md).
    Loading first also spares the first player the classifier's loading time."""
    from webapp.services.guessing import get_guess_service

    with app.app_context():
        get_guess_service(app)
    gc.collect()
    gc.freeze()
