"""``GET /_bench/stats``: the hot path's counters, for the load benchmark and tests only.

`python -m benchmarks load` must report how many images each classifier forward pass carried
and how many requests each tick (one transaction) carried, which only the serving process knows.
The route exists only when ``DA_EXPOSE_STATS=1`` (config ``EXPOSE_STATS``): a normal deployment has no such URL (404), so it leaks nothing. Counters are
per process (each gunicorn worker has its own pipeline), hence the ``pid`` in the answer.
"""

from __future__ import annotations

import os

from flask import Flask, current_app, jsonify


def _stats():
    service = current_app.extensions.get("guess_service")
    pipeline = current_app.extensions.get("pipeline")
    return jsonify({"pid": os.getpid(),
                    "forward_passes": service.forward_passes if service else 0,
                    "images": service.images if service else 0,
                    "ticks": pipeline.ticks if pipeline else 0,
                    "requests": pipeline.requests if pipeline else 0,
                    "replays": pipeline.replays if pipeline else 0})


def register(app: Flask) -> None:
    """Add the route when the app was configured to expose it."""
    if app.config.get("EXPOSE_STATS"):
        app.add_url_rule("/_bench/stats", "bench_stats", _stats, methods=["GET"])
