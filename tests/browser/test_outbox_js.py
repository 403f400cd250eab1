"""static/js/api.js's outbox against a scripted server (Playwright routes), in real Chromium:
batching, one request at a time, retry after network failures, refusals, beacons."""

from __future__ import annotations

import json
import re

from tests.browser.conftest import STATIC_ORIGIN

ROUND = "11111111-2222-4333-8444-555555555555"
POINTS_URL = re.compile(rf".*/api/rounds/{ROUND}/points$")
ROUND_URL = re.compile(rf".*/api/rounds/{ROUND}$")
END_URL = re.compile(rf".*/api/rounds/{ROUND}/end$")

# Counts concurrent fetches in the page, then drives an outbox: `pushes` single points ~2 ms
# apart, then waits until the outbox is drained (or 15 s pass).
DRIVE = f"""async ({{pushes, end}}) => {{
    let live = 0;
    window.maxLive = 0;
    const realFetch = window.fetch;
    window.fetch = async (...args) => {{
        live += 1; window.maxLive = Math.max(window.maxLive, live);
        try {{ return await realFetch(...args); }} finally {{ live -= 1; }}
    }};
    const {{ RoundOutbox }} = await import('{STATIC_ORIGIN}/static/js/api.js');
    const states = [], problems = [];
    const ob = new RoundOutbox({{roundId: '{ROUND}', points: [], acked: 0, refused: 0, end: null}},
                               {{onState: (s) => states.push(s), onProblem: (m) => problems.push(m)}});
    window.ob = ob;
    for (let i = 0; i < pushes; i++) {{
        ob.push([[i * 0.25, 1.5, i * 4]]);
        await new Promise((r) => setTimeout(r, 2));
    }}
    if (end) ob.requestEnd(end);
    const t0 = performance.now();
    while (!ob.drained && performance.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 20));
    return {{drained: ob.drained, rec: ob.rec, accepted: ob.accepted, states: states.length,
             problems, maxLive: window.maxLive,
             saved: JSON.parse(localStorage.getItem('da.round.v1'))}};
}}"""


def state(n_points: int, status: str = "active") -> str:
    return json.dumps({"round_id": ROUND, "status": status, "n_points": n_points})


class ScriptedServer:
    """Stores points like the real API (idempotent by index, 409 on a gap); the first
    `fail_first` requests fail at the network level."""

    def __init__(self, fail_first: int = 0, ended_after: int | None = None) -> None:
        self.stored: list[list[float]] = []
        self.calls: list[tuple[int, int, str]] = []
        self.fail_first = fail_first
        self.ended_after = ended_after  # the round "ends" once this many points are stored
        self.ends: list[str] = []

    def points(self, route) -> None:
        body = json.loads(route.request.post_data)
        start, pts = body["start_index"], body["points"]
        if len(self.calls) < self.fail_first:
            self.calls.append((start, len(pts), "aborted"))
            route.abort("connectionreset")
            return
        if self.ended_after is not None and len(self.stored) >= self.ended_after:
            self.calls.append((start, len(pts), "409 ended"))
            route.fulfill(status=409, content_type="application/json", body='{"error": "round ended"}')
            return
        if start > len(self.stored):
            self.calls.append((start, len(pts), "409 gap"))
            route.fulfill(status=409, content_type="application/json",
                          body=json.dumps({"error": "gap", "expected_index": len(self.stored)}))
            return
        new = pts[len(self.stored) - start:]
        if self.ended_after is not None:
            new = new[: max(0, self.ended_after - len(self.stored))]
        self.stored.extend(new)
        self.calls.append((start, len(pts), "ok"))
        status = "active" if self.ended_after is None or len(self.stored) < self.ended_after else "recognized"
        route.fulfill(status=200, content_type="application/json", body=state(len(self.stored), status))

    def get(self, route) -> None:
        status = "active" if self.ended_after is None or len(self.stored) < self.ended_after else "recognized"
        route.fulfill(status=200, content_type="application/json", body=state(len(self.stored), status))

    def end(self, route) -> None:
        reason = json.loads(route.request.post_data)["reason"]
        self.ends.append(reason)
        if len(self.ends) == 1:  # the server's clock says time is left: refused once
            route.fulfill(status=409, content_type="application/json", body='{"error": "time left"}')
        else:
            route.fulfill(status=200, content_type="application/json", body=state(len(self.stored), "timeout"))

    def attach(self, page) -> None:
        page.route(POINTS_URL, self.points)
        page.route(ROUND_URL, self.get)
        page.route(END_URL, self.end)


def expected_points(n: int) -> list[list[float]]:
    return [[i * 0.25, 1.5, i * 4] for i in range(n)]


def test_batches_one_at_a_time_and_retries_network_failures(static_page) -> None:
    server = ScriptedServer(fail_first=2)
    server.attach(static_page)
    out = static_page.evaluate(DRIVE, {"pushes": 100, "end": None})
    assert out["drained"] and out["rec"]["acked"] == 100 and out["accepted"] == 100
    assert server.stored == expected_points(100)  # all, in order, none twice
    assert out["maxLive"] == 1  # one request in flight at a time
    # The failed batch was offered again from the same index; later ones continued from there.
    assert server.calls[0][2] == server.calls[1][2] == "aborted"
    assert server.calls[0][0] == server.calls[1][0] == server.calls[2][0] == 0
    starts = [c[0] for c in server.calls]
    assert starts == sorted(starts)
    assert all(size <= 200 for _, size, _ in server.calls)
    assert len(server.calls) < 100  # batched, not one request per point
    assert out["saved"]["points"] == expected_points(100)  # the outbox lives in localStorage


def test_points_after_the_end_are_refused_and_counted(static_page) -> None:
    server = ScriptedServer(ended_after=40)
    server.attach(static_page)
    out = static_page.evaluate(DRIVE, {"pushes": 90, "end": None})
    assert out["drained"]
    assert server.stored == expected_points(40)
    assert out["accepted"] == 40 and out["rec"]["refused"] == 50
    assert out["rec"]["points"] == expected_points(90)  # the page still keeps what it drew


def test_end_is_sent_after_the_points_and_retried_when_early(static_page) -> None:
    server = ScriptedServer()
    server.attach(static_page)
    out = static_page.evaluate(DRIVE, {"pushes": 10, "end": "timeout"})
    assert out["drained"] and out["rec"]["end"] is None
    assert server.stored == expected_points(10)
    assert server.ends == ["timeout", "timeout"]  # refused while time was left, then accepted


def test_beacon_carries_unsent_points_as_json(static_page) -> None:
    beacons: list[tuple[str, str, dict]] = []

    def capture(route) -> None:
        req = route.request
        beacons.append((req.url, req.headers.get("content-type", ""), json.loads(req.post_data)))
        route.fulfill(status=200, content_type="application/json", body=state(0))

    static_page.route(POINTS_URL, capture)
    static_page.evaluate(f"""async () => {{
        const {{ RoundOutbox }} = await import('{STATIC_ORIGIN}/static/js/api.js');
        const ob = new RoundOutbox({{roundId: '{ROUND}', points: [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                                     acked: 1, refused: 0, end: null}});
        ob.beacon();
        ob.beacon();  // visibilitychange + pagehide: the same outbox goes out once
    }}""")
    static_page.wait_for_timeout(500)
    assert len(beacons) == 1
    url, ctype, body = beacons[0]
    assert ctype.startswith("application/json")
    assert body == {"start_index": 1, "points": [[4, 5, 6], [7, 8, 9]]}


def test_skip_rides_on_the_last_points_batch(static_page) -> None:
    """A Skip requested while points wait (here: the first two sends fail, as in a network
    drop) goes out on the last points batch as `"end": "skip"`: one ordered action, no /end."""
    server = ScriptedServer(fail_first=2)
    bodies: list[dict] = []

    def points(route) -> None:
        bodies.append(json.loads(route.request.post_data))
        server.points(route)

    static_page.route(POINTS_URL, points)
    static_page.route(ROUND_URL, server.get)
    static_page.route(END_URL, server.end)
    out = static_page.evaluate(DRIVE, {"pushes": 250, "end": "skip"})
    assert out["drained"] and out["rec"]["end"] is None
    assert server.stored == expected_points(250) and server.ends == []
    delivered = [b for b, call in zip(bodies, server.calls) if call[2] == "ok"]
    assert [b.get("end") for b in delivered][-1] == "skip"
    assert all("end" not in b for b in delivered[:-1])  # only the batch that empties the outbox


def test_beacon_carries_a_pending_skip_with_the_points(static_page) -> None:
    beacons: list[tuple[str, dict]] = []

    def capture(route) -> None:
        beacons.append((route.request.url, json.loads(route.request.post_data)))
        route.fulfill(status=200, content_type="application/json", body=state(0))

    static_page.route(POINTS_URL, capture)
    static_page.route(END_URL, capture)
    static_page.evaluate(f"""async () => {{
        const {{ RoundOutbox }} = await import('{STATIC_ORIGIN}/static/js/api.js');
        const ob = new RoundOutbox({{roundId: '{ROUND}', points: [[1, 2, 3], [4, 5, 6]],
                                     acked: 0, refused: 0, end: 'skip'}});
        ob.beacon();
    }}""")
    static_page.wait_for_timeout(500)
    assert len(beacons) == 1
    assert beacons[0][0].endswith("/points")
    assert beacons[0][1] == {"start_index": 0, "points": [[1, 2, 3], [4, 5, 6]], "end": "skip"}
