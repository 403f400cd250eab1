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

from gunicorn.workers.gthread import ThreadWorker

from webapp.config import max_body_bytes

#: threads of each worker that game sockets may never take
THREADS_FOR_REQUESTS = 16


def post_worker_init(worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    app = worker.wsgi
    threads = worker.cfg.threads if isinstance(worker, ThreadWorker) else 1
    app.config["MAX_SOCKETS"] = min(int(app.config["MAX_SOCKETS"]),
                                    max(0, threads - THREADS_FOR_REQUESTS))


def pre_request(worker, req):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    for name, value in req.headers:
        if name == "CONTENT-LENGTH" and value.isdigit() and int(value) > max_body_bytes():
            req.force_close()
