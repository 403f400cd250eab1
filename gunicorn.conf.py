"""Gunicorn settings read automatically when gunicorn starts in the repository root (`make play`).

A request whose declared body is larger than the app will read gets 413 from Flask. The app
says ``Connection: close``, but gunicorn drops hop-by-hop headers from applications and decides
itself; without this hook it answers ``keep-alive`` and must drain the unread body before the
next request. Marking such a request to close makes gunicorn answer ``Connection: close`` and
drop the connection instead of reading what the client still sends.
"""

from webapp.config import max_body_bytes


def pre_request(worker, req):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    for name, value in req.headers:
        if name == "CONTENT-LENGTH" and value.isdigit() and int(value) > max_body_bytes():
            req.force_close()
