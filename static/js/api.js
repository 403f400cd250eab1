// The page's side of docs/API.md: JSON requests (over the game socket while it is open, else
// HTTP), and an outbox that never loses a brush point.
//
// Every brush point is written to localStorage the moment it exists, then sent in batches.
// A point only leaves the outbox when the server's answer says it is stored (`n_points`), so a
// network failure is retried with backoff, a reload re-sends whatever the server lacks, and a
// page that is being hidden or closed pushes its last points out with navigator.sendBeacon.

const STORAGE_KEY = "da.round.v1";
const FLUSH_DELAY_MS = 150;     // batch window while brushing
const FLUSH_AT_POINTS = 32;     // ...or send as soon as this many points wait
const MAX_SEND = 200;           // points per request (the server takes up to 512)
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

/** An HTTP error answer from the API (`body` is its JSON, e.g. {"error": ...}). */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// When each JSON answer was asked for and received (page epoch ms), for clock alignment.
const roundTrips = new WeakMap();

/**
 * GET/POST JSON with the session cookie: over the game socket while it is open and serves the
 * request, else with fetch. Network failures (and a socket lost mid-request) throw TypeError
 * (retryable); error answers throw ApiError either way.
 */
export async function api(method, url, body) {
  const sent = nowEpoch();
  const { status, data } = gameSocket.serves(method, url) && gameSocket.open()
    ? await gameSocket.request(method, url, body)
    : await fetchJson(method, url, body);
  if (status < 200 || status >= 300) throw new ApiError(status, data);
  if (data && typeof data === "object") roundTrips.set(data, { sent, received: nowEpoch() });
  return data;
}

async function fetchJson(method, url, body) {
  if (gameSocket.serves(method, url)) gameSocket.connect();  // for the next request
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  let data = null;
  try { data = await res.json(); } catch (_) { /* empty or non-JSON body */ }
  return { status: res.status, data };
}

const SOCKET_PATH = "/api/socket";
const SOCKET_RETRY_MS = [1000, 5000, 30000];
// The requests the server answers over the socket (webapp/api/socket.py).
const SOCKET_ROUTES = [["POST", /^\/api\/rounds$/], ["GET", /^\/api\/rounds\/[^/]+$/],
  ["POST", /^\/api\/rounds\/[^/]+\/(points|end)$/]];

/**
 * The game's round requests over one WebSocket, each sent like an HTTP request
 * ({id, method, path, body}) and answered like one ({id, status, body}); the server does for
 * each what the HTTP route does, at a fraction of the cost. While the socket is not open
 * (connecting, refused, lost, idle-closed by the server) requests go over HTTP and the socket
 * reconnects in the background, so the page never waits for it.
 */
class GameSocket {
  constructor() {
    this.ws = null;
    this.nextId = 0;
    this.pending = new Map();
    this.failures = 0;
    this.retryAt = 0;
  }

  serves(method, url) {
    return SOCKET_ROUTES.some(([m, path]) => m === method && path.test(url));
  }

  open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    if (this.ws !== null || typeof WebSocket === "undefined" || Date.now() < this.retryAt) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}${SOCKET_PATH}`);
    } catch (_) {  // e.g. a policy forbids it: play over HTTP, ask again much later
      this.retryAt = Date.now() + SOCKET_RETRY_MS[SOCKET_RETRY_MS.length - 1];
      return;
    }
    this.ws = ws;
    ws.onopen = () => { this.failures = 0; };
    ws.onmessage = (event) => {
      let reply;
      try { reply = JSON.parse(event.data); } catch (_) { return; }
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      waiting.resolve({ status: reply.status, data: reply.body });
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      this.retryAt = Date.now() + SOCKET_RETRY_MS[Math.min(this.failures++, SOCKET_RETRY_MS.length - 1)];
      for (const waiting of this.pending.values()) waiting.reject(new TypeError("game socket closed"));
      this.pending.clear();
    };
  }

  /** Connect (if not yet) and resolve true once open, false after `ms` or if it closes. */
  opened(ms) {
    this.connect();
    const ws = this.ws;
    if (ws === null) return Promise.resolve(false);
    if (ws.readyState === WebSocket.OPEN) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok) => {
        clearTimeout(timer);
        ws.removeEventListener("open", onOpen);
        ws.removeEventListener("close", onClose);
        resolve(ok);
      };
      const onOpen = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      ws.addEventListener("open", onOpen);
      ws.addEventListener("close", onClose);
    });
  }

  request(method, url, body) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.ws.send(JSON.stringify({ id, method, path: url, body }));
      } catch (err) {
        this.pending.delete(id);
        reject(new TypeError(`game socket: ${err}`));
      }
    });
  }
}

const gameSocket = new GameSocket();

/**
 * Open the game socket now, for a player who has agreed to the consent, waiting at most
 * `waitMs` for it: the first round then starts over the socket, and its first batches do not
 * each cost the server an HTTP request (when a study opens, everyone's first round is at once:
 * docs/load.md). Resolves whether it opened; the page plays over HTTP if it did not.
 */
export function openGameSocket(waitMs = 500) {
  return gameSocket.opened(waitMs);
}

/** {sent, received} of an answer `api()` returned (undefined for other objects). */
export function roundTripOf(data) {
  return data && typeof data === "object" ? roundTrips.get(data) : undefined;
}

/**
 * The page's estimate of when the server's round clock read 0, in page epoch ms.
 * An answer saying "elapsed_ms = E" was made somewhere between sending the request and
 * receiving the answer; assuming the middle is off by at most half the round trip, so the
 * answer with the shortest round trip gives the best estimate. This keeps the page's timer
 * within a few ms of the server's even when every request takes hundreds of ms each way.
 */
export class RoundClock {
  constructor() {
    this.start = null;   // page epoch ms at which the server's round clock read 0
    this.rtt = Infinity; // round trip of the answer the estimate came from
  }

  /** Take a round state into account; true when the estimate changed. */
  observe(state) {
    const trip = roundTripOf(state);
    if (!trip || typeof state.elapsed_ms !== "number" || state.status !== "active") return false;
    const rtt = trip.received - trip.sent;
    if (rtt >= this.rtt) return false;
    this.rtt = rtt;
    this.start = (trip.sent + trip.received) / 2 - state.elapsed_ms;
    return true;
  }

  /** Server ms elapsed in the round now, as the page estimates it. */
  elapsed() {
    return this.start === null ? 0 : nowEpoch() - this.start;
  }
}

/** Wall-clock ms with sub-ms resolution; its differences are monotonic within one page. */
export function nowEpoch() {
  return performance.timeOrigin + performance.now();
}

/** A UUID4 for the round id (crypto.randomUUID is missing outside secure contexts). */
export function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function retryable(err) {
  // fetch rejects with TypeError when the network is down; 5xx/429 are the server's trouble.
  return err instanceof TypeError || (err instanceof ApiError && (err.status >= 500 || err.status === 429));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The current round's record, persisted in localStorage:
 *   {roundId, study, startEpoch, stimulus, settings, points: [[x, y, t], ...] (all of them),
 *    acked: how many need no more sending, refused: how many of those the server refused
 *    (drawn after the round ended), end: "skip"|"timeout"|null (an end not yet sent)}
 * Keeping all points (not just unsent ones) lets a reloaded page redraw the brushed area.
 */
export class RoundOutbox {
  constructor(record, { onState = () => {}, onProblem = () => {} } = {}) {
    this.rec = record;
    this.onState = onState;       // called with every round state the server returns
    this.onProblem = onProblem;   // called with a short message when sending keeps failing
    this.inFlight = false;
    this.failures = 0;
    this.timer = null;
    this.save();
  }

  /** The saved record of an unfinished round, or null. */
  static load() {
    try {
      const rec = JSON.parse(localStorage.getItem(STORAGE_KEY));
      return rec && typeof rec.roundId === "string" && Array.isArray(rec.points) ? rec : null;
    } catch (_) {
      return null;
    }
  }

  static clear() {
    localStorage.removeItem(STORAGE_KEY);
  }

  save() {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.rec));
    } catch (_) {
      // Storage full or disabled: keep going from memory; only a reload could lose points.
    }
  }

  get url() {
    return `/api/rounds/${encodeURIComponent(this.rec.roundId)}`;
  }

  get unsent() {
    return this.rec.points.length - this.rec.acked;
  }

  /** True when the server holds every point and any requested end. */
  get drained() {
    return this.unsent === 0 && !this.rec.end && !this.inFlight;
  }

  /** Keep new points (persisted at once) and send them soon. */
  push(points) {
    for (const p of points) this.rec.points.push(p);
    this.save();
    if (this.unsent >= FLUSH_AT_POINTS) this.flush();
    else this.schedule(FLUSH_DELAY_MS);
  }

  /** Ask the server to end the round, after every point before it has been sent. */
  requestEnd(reason) {
    if (!this.rec.end) this.rec.end = reason;
    this.save();
    this.flush();
  }

  /** The server stores `n` points of this round: they need no more sending. */
  acknowledge(n) {
    if (n > this.rec.acked) {
      this.rec.acked = Math.min(n, this.rec.points.length);
      this.save();
    }
  }

  /** Stop offering the unsent points (the server refuses them for good), counting them. */
  giveUpUnsent() {
    this.rec.refused = (this.rec.refused || 0) + this.unsent;
    this.rec.acked = this.rec.points.length;
    this.save();
  }

  /** How many of the round's points the server accepted (all but the refused ones). */
  get accepted() {
    return this.rec.acked - (this.rec.refused || 0);
  }

  schedule(ms) {
    if (this.timer === null) {
      this.timer = setTimeout(() => { this.timer = null; this.flush(); }, ms);
    }
  }

  /** Send what is waiting: one request at a time, points first, then a requested end. */
  async flush() {
    if (this.inFlight) return;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.unsent === 0 && !this.rec.end) return;
    this.inFlight = true;
    try {
      let state;
      if (this.unsent > 0) {
        state = await this.sendPoints();
      } else {
        state = await api("POST", `${this.url}/end`, { reason: this.rec.end });
        this.rec.end = null;
        this.save();
      }
      this.failures = 0;
      if (state) this.onState(state);
    } catch (err) {
      await this.handleFailure(err);
    } finally {
      this.inFlight = false;
    }
    if (this.unsent >= FLUSH_AT_POINTS || (this.unsent === 0 && this.rec.end)) this.flush();
    else if (this.unsent > 0) this.schedule(FLUSH_DELAY_MS);
  }

  /**
   * One batch of points. When the player pressed Skip while points were still waiting (e.g.
   * during a network drop), the last batch carries the skip (`"end": "skip"`): the server
   * stores the points and ends the round as skipped in one step, so the points cannot win the
   * round on their way in after the player gave it up (docs/API.md).
   */
  async sendPoints() {
    const start = this.rec.acked;
    const batch = this.rec.points.slice(start, start + MAX_SEND);
    const carriesSkip = this.rec.end === "skip" && start + batch.length === this.rec.points.length;
    const body = { start_index: start, points: batch };
    if (carriesSkip) body.end = "skip";
    const state = await api("POST", `${this.url}/points`, body);
    if (carriesSkip) this.rec.end = null;
    this.acknowledge(state.n_points);
    if (this.rec.acked === start && state.status !== "active") {
      // The round ended and the server kept none of these (drawn after its end): nothing
      // more can store them, so stop offering them.
      this.giveUpUnsent();
    }
    return state;
  }

  async handleFailure(err) {
    if (retryable(err)) {
      const wait = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
      this.failures += 1;
      if (this.failures >= 3) this.onProblem("Connection trouble: your brush strokes are kept and will be sent.");
      await sleep(wait * (0.75 + Math.random() * 0.5));
      return;
    }
    if (err instanceof ApiError && err.status === 409) {
      // Our idea of what the server holds is off (a gap, an ended round, a timeout the
      // server's clock does not accept yet): ask it, then carry on from its answer.
      await this.resync(err);
      return;
    }
    // 400/403/404/413: the request can never succeed; drop it rather than loop forever.
    this.onProblem(`The server refused data (${err.message}).`);
    if (this.unsent > 0) this.giveUpUnsent();
    else { this.rec.end = null; this.save(); }
  }

  async resync(conflict) {
    let state;
    try {
      state = await api("GET", this.url);
    } catch (err) {
      if (retryable(err)) { await sleep(BACKOFF_MS[1]); return; }
      this.onProblem(`The server no longer knows this round (${err.message}).`);
      this.rec.end = null;
      this.giveUpUnsent();
      return;
    }
    const before = this.rec.acked;
    this.acknowledge(state.n_points);
    if (state.status !== "active") {
      // Ended: points after its end are refused for good, and an end request is moot.
      this.rec.end = null;
      this.giveUpUnsent();
    } else if (this.unsent === 0 && this.rec.end) {
      // e.g. a timeout the server's clock finds early: ask again a little later.
      await sleep(BACKOFF_MS[Math.min(this.failures++, BACKOFF_MS.length - 1)]);
    } else if (this.unsent > 0 && this.rec.acked === before) {
      // Active, yet it took none of them (e.g. the round's point limit): offering them again
      // would only loop, so they count as refused.
      this.onProblem(`The server refused points (${conflict.message}).`);
      this.giveUpUnsent();
    }
    this.onState(state);
  }

  /**
   * The page is being hidden or unloaded: hand the unsent points (and a pending end) to
   * sendBeacon, which the browser delivers even after the page is gone. They stay in the
   * outbox too; if the beacon arrived, the next load learns so from `n_points`.
   */
  beacon() {
    this.save();
    if (!navigator.sendBeacon) return;
    // visibilitychange and pagehide often fire together: send each state of the outbox once.
    const key = `${this.rec.acked}:${this.rec.points.length}:${this.rec.end}`;
    if (key === this.lastBeacon) return;
    this.lastBeacon = key;
    const send = (path, body) => navigator.sendBeacon(`${this.url}${path}`,
      new Blob([JSON.stringify(body)], { type: "application/json" }));
    const start = this.rec.acked;
    const batch = this.rec.points.slice(start, start + MAX_SEND);
    const last = start + batch.length === this.rec.points.length;
    const skip = this.rec.end === "skip";
    if (batch.length) {
      // A pending Skip rides on the last batch (one ordered action, never overtaken); when more
      // points wait than one batch holds, the skip stays in the outbox for the next load.
      send("/points", { start_index: start, points: batch, ...(skip && last ? { end: "skip" } : {}) });
    }
    // Beacons may arrive in any order; a timeout that overtakes the points is harmless because
    // the server still stores late points drawn before the round's end.
    if (this.rec.end && !(skip && batch.length)) send("/end", { reason: this.rec.end });
  }
}
