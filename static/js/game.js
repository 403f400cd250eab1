// The game page: starts or resumes a round, feeds brush points to the outbox, shows the AI's
// guesses, the timer and the result. The server decides every outcome; this page only shows it.

import { api, ApiError, nowEpoch, RoundOutbox, uuid4 } from "./api.js";
import { Board } from "./board.js";
import { maskBits } from "./geometry.js";

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const el = {
  category: byTestId("category"),
  timerFill: document.querySelector(".timer-fill"),
  timerText: document.querySelector(".timer-text"),
  timer: byTestId("timer"),
  guess: byTestId("ai-guess"),
  top3: document.getElementById("top3"),
  result: byTestId("round-result"),
  problem: document.getElementById("problem"),
  skip: byTestId("skip"),
  next: byTestId("next"),
  hint: document.getElementById("stage-hint"),
  score: byTestId("score"),
  best: document.getElementById("best"),
  rounds: document.getElementById("rounds"),
  pseudonym: document.getElementById("pseudonym"),
  editName: document.getElementById("edit-name"),
  nameForm: document.getElementById("name-form"),
  nameInput: document.getElementById("name-input"),
  nameProblem: document.getElementById("name-problem"),
  studyProgress: document.getElementById("study-progress"),
};
const study = new URLSearchParams(location.search).get("study") || null;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

let outbox = null;      // RoundOutbox of the round on screen
let state = null;       // the latest round state from the server
let timerStart = 0;     // epoch ms at which the server's round clock read 0
let gray = null;        // the stimulus' pixels (uint8, row-major)
let ending = false;     // an end (skip/timeout) was requested and is on its way
let studyMode = null;   // {slug, lib, state} while a recruited participant plays a study

const board = new Board(byTestId("game-canvas"), document.getElementById("ai-view"), {
  timeOf: (epoch) => epoch - outbox.rec.startEpoch,
  onPoints: (points) => { el.hint.hidden = true; outbox.push(points); },
  onStrokeEnd: () => outbox.flush(),
});

// --- talking to the server -----------------------------------------------------------------

/** Retry a request through network failures (with backoff), not through refusals. */
async function persistent(request) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await request();
    } catch (err) {
      if (err instanceof ApiError && err.status < 500 && err.status !== 429) throw err;
      if (attempt >= 2) showProblem("Trying to reach the server…");
      await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
    }
  }
}

/** The stimulus as gray levels, decoded without any colour management so values are exact. */
async function loadGray(stimulus) {
  const res = await persistent(async () => {
    const r = await fetch(stimulus.image_url, { credentials: "same-origin" });
    if (!r.ok) throw new ApiError(r.status, null);
    return r;
  });
  const bitmap = await createImageBitmap(await res.blob(),
    { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const { width, height } = stimulus;
  if (bitmap.width !== width || bitmap.height !== height) {
    throw new Error(`image is ${bitmap.width}x${bitmap.height}, expected ${width}x${height}`);
  }
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = rgba[4 * i];
  return out;
}

function makeOutbox(rec) {
  return new RoundOutbox(rec, { onState: showState, onProblem: showProblem });
}

/** Start a fresh round: the page names it (so a re-sent request cannot create two). */
async function newRound() {
  resetView();
  const rec = { roundId: uuid4(), study, startEpoch: null, stimulus: null, settings: null,
    points: [], acked: 0, refused: 0, end: null };
  outbox = makeOutbox(rec);  // saved before the request: a reload mid-request finds the round
  let st;
  try {
    st = await persistent(() => api("POST", "/api/rounds", { round_id: rec.roundId, study }));
  } catch (err) {
    RoundOutbox.clear();
    if (err instanceof ApiError && err.status === 403) {
      location.assign(study ? `/study/${encodeURIComponent(study)}` : "/consent");
      return;
    }
    showProblem(`Could not start a round (${err.message}).`);
    showNext("Try again");
    return;
  }
  await begin(st);
}

/** Pick up a round saved before a reload: re-send what the server lacks, keep playing. */
async function resume(rec) {
  let st;
  try {
    st = await persistent(() => api("GET", `/api/rounds/${encodeURIComponent(rec.roundId)}`));
  } catch (err) {
    RoundOutbox.clear();  // unknown or someone else's round: nothing to resume
    return false;
  }
  rec.acked = Math.min(rec.acked || 0, rec.points.length);
  outbox = makeOutbox(rec);
  outbox.acknowledge(st.n_points);
  await begin(st);
  outbox.flush();
  return true;
}

/** Show a round from its server state (new or resumed). */
async function begin(st) {
  const rec = outbox.rec;
  // t = 0 is when the server started the round; kept in localStorage so it survives reloads.
  if (rec.startEpoch === null) rec.startEpoch = nowEpoch() - st.elapsed_ms;
  rec.stimulus = st.stimulus;
  rec.settings = st.settings;
  outbox.save();
  gray = await loadGray(st.stimulus);
  board.setStimulus(gray, st.stimulus.width, st.stimulus.height, st.settings.brush_radius_px);
  board.addPoints(rec.points);
  el.hint.hidden = rec.points.length > 0;
  showCategory(st.stimulus.category);
  timerStart = nowEpoch() - st.elapsed_ms;  // the timer continues from the server's clock
  state = null;
  showState(st);
  if (st.status === "active") {
    board.setEnabled(true);
    el.skip.disabled = false;
  }
  window.__da.ready = true;
}

// --- showing things ------------------------------------------------------------------------

function showCategory(category) {
  const b = document.createElement("b");
  b.textContent = category;
  el.category.replaceChildren("Help the AI recognise this ", b);
}

function showPlayer(p) {
  el.pseudonym.textContent = p.pseudonym;
  el.score.textContent = String(p.total_score);
  el.best.textContent = String(p.best_round);
  if (p.rounds_played !== undefined) el.rounds.textContent = String(p.rounds_played);
}

function showProblem(message) {
  el.problem.textContent = message;
  el.problem.hidden = !message;
}

function showGuess(guess, category) {
  if (!guess || !guess.top5 || !guess.top5.length) return;
  const top = guess.top5[0];
  const label = document.createElement("b");
  label.textContent = top.label;
  el.guess.replaceChildren(guess.correct ? "Got it: " : "I think it's ", label,
    ` (${Math.round(top.p * 100)}%)`);
  el.guess.classList.toggle("correct", Boolean(guess.correct));
  el.top3.replaceChildren(...guess.top5.slice(0, 3).map((g) => {
    const li = document.createElement("li");
    const bar = document.createElement("span");
    bar.className = "p";
    bar.style.width = `${Math.max(2, Math.round(g.p * 100))}%`;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = `${g.label} ${Math.round(g.p * 100)}%`;
    if (g.label === category) li.className = "target";
    li.append(bar, name);
    return li;
  }));
}

/** Every server answer lands here: it is the only source of guesses, points and outcome. */
function showState(st) {
  if (!outbox || st.round_id !== outbox.rec.roundId) return;  // a late answer for an old round
  const wasEnded = state !== null && state.status !== "active";
  if (wasEnded && st.status === "active") return;  // an ended round never resumes
  state = st;
  showGuess(st.guess, st.stimulus.category);
  showPlayer({ pseudonym: el.pseudonym.textContent, total_score: st.total_score,
    best_round: st.best_round });
  if (st.status !== "active" && !wasEnded) finish(st);
}

const OUTCOME = {
  recognized: (st) => `+${st.points} points! Recognised after ${(st.elapsed_ms / 1000).toFixed(1)} s.`,
  timeout: () => "Time's up: 0 points. The AI needed to see more.",
  skipped: () => "Skipped: 0 points.",
};

function finish(st) {
  board.setEnabled(false);
  el.hint.hidden = true;
  el.skip.disabled = true;
  ending = false;
  el.result.textContent = OUTCOME[st.status](st);
  el.result.dataset.status = st.status;
  el.timer.classList.add("stopped");
  if (st.status === "recognized") el.timerFill.style.transform = "scaleX(0)";
  api("GET", "/api/me").then((me) => showPlayer(me)).catch(() => {});
  showNext("Next drawing");
}

function showNext(label) {
  el.next.textContent = label;
  el.next.hidden = false;
  el.next.disabled = false;
  el.next.focus({ preventScroll: true });
}

function resetView() {
  window.__da.ready = false;
  state = null;
  ending = false;
  el.result.textContent = "";
  delete el.result.dataset.status;
  el.guess.textContent = "Nothing yet: brush to show it something.";
  el.guess.classList.remove("correct");
  el.top3.replaceChildren();
  el.category.textContent = "Loading a drawing…";
  el.next.hidden = true;
  el.skip.disabled = true;
  el.timer.classList.remove("stopped", "low");
  el.timerFill.style.transform = "scaleX(1)";
  el.timerText.textContent = "–";
  showProblem("");
}

/** The timer bar, and the timeout request when the page's clock runs out. */
function tick() {
  if (state && state.status === "active") {
    const total = state.settings.timer_ms;
    const left = Math.max(0, total - (nowEpoch() - timerStart));
    el.timerFill.style.transform = `scaleX(${left / total})`;
    el.timerText.textContent = `${(left / 1000).toFixed(1)} s`;
    el.timer.classList.toggle("low", left < 0.25 * total);
    if (left === 0 && !ending) endRound("timeout");
  }
  requestAnimationFrame(tick);
}

/** Skip or timeout: no more brushing; the points go out first, then the end request. */
function endRound(reason) {
  ending = true;
  board.setEnabled(false);
  el.skip.disabled = true;
  el.result.textContent = reason === "skip" ? "Skipping…" : "Time's up! Checking the last guess…";
  outbox.requestEnd(reason);
}

// --- controls --------------------------------------------------------------------------------

el.skip.addEventListener("click", () => {
  if (state && state.status === "active" && !ending) endRound("skip");
});

el.next.addEventListener("click", async () => {
  el.next.disabled = true;
  window.__da.ready = false;  // moving on: the next round (or the study's end) is not shown yet
  // Never drop a round's unsent points: wait until the server holds them all.
  while (outbox && !outbox.drained) {
    el.next.textContent = "Saving…";
    outbox.flush();
    await new Promise((r) => setTimeout(r, 200));
  }
  if (studyMode && outbox && state && state.status !== "active") {
    studyMode.lib.recordRound(studyMode.slug, outbox.rec.roundId, outbox.accepted);
    if (await studyFinished()) return;
  }
  await newRound();
});

// --- study mode (recruited participants; see static/js/study.js) ---------------------------

/** Join the study named in the URL; null when this visitor is not one of its participants
 * (a public study: the open game, with rounds tagged with the study). */
async function enterStudy(slug) {
  const lib = await import("./study.js");
  let st;
  try {
    st = await lib.loadStudy(slug);
  } catch (_) {
    return null;
  }
  if (st.needs_consent) {
    location.replace(`/study/${encodeURIComponent(slug)}`);
    return false;
  }
  return { slug, lib, state: st };
}

function showStudyProgress() {
  const st = studyMode.state;
  el.studyProgress.textContent = `Round ${Math.min(st.rounds_done + 1, st.rounds_total)} of ${st.rounds_total}`;
  el.studyProgress.hidden = false;
}

/** After a round: when the participant has played them all, have the server confirm every
 * point is stored, then show the way back to the recruitment platform. */
async function studyFinished() {
  studyMode.state = await persistent(() => studyMode.lib.loadStudy(studyMode.slug));
  showStudyProgress();
  if (!studyMode.lib.isFinished(studyMode.state)) return false;
  resetView();
  board.setEnabled(false);
  el.category.textContent = "All rounds done. Thank you!";
  el.result.textContent = "Checking that all your answers are saved…";
  const url = await studyMode.lib.completeStudy(studyMode.slug, {
    onWait: () => { el.result.textContent = "Still saving your answers, please keep this page open…"; },
  });
  el.result.textContent = "Everything is saved. ";
  if (url && /^https?:\/\//.test(url)) {
    const a = document.createElement("a");
    a.href = url;
    a.className = "button primary";
    a.textContent = "Return to the study platform";
    el.result.append(a);
  }
  return true;
}

el.editName.addEventListener("click", () => {
  const open = el.nameForm.hidden;
  el.nameForm.hidden = !open;
  el.editName.setAttribute("aria-expanded", String(open));
  if (open) {
    el.nameInput.value = el.pseudonym.textContent;
    el.nameInput.focus();
  }
});

el.nameForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  el.nameProblem.hidden = true;
  try {
    showPlayer(await api("POST", "/api/me", { pseudonym: el.nameInput.value.trim() }));
    el.nameForm.hidden = true;
    el.editName.setAttribute("aria-expanded", "false");
  } catch (err) {
    el.nameProblem.textContent = err.message;
    el.nameProblem.hidden = false;
  }
});

// Hidden or closing pages may never run another timer: hand the outbox to sendBeacon.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden" && outbox) outbox.beacon();
});
window.addEventListener("pagehide", () => { if (outbox) outbox.beacon(); });

// Hooks for the browser tests (read-only views of what the player sees and what was sent).
window.__da = {
  ready: false,  // true once a round from the server is on screen; false while moving on
  maskBits: () => maskBits(board.mask),
  revealed: () => Array.from(board.revealed()),
  image: () => Array.from(gray),
  points: () => (outbox ? outbox.rec.points.map((p) => p.slice()) : []),
  pointCount: () => (outbox ? outbox.rec.points.length : 0),
  unsent: () => (outbox ? outbox.unsent : 0),
  drained: () => (outbox ? outbox.drained : true),
  roundId: () => (outbox ? outbox.rec.roundId : null),
  state: () => state,
};

async function main() {
  const me = await persistent(() => api("GET", "/api/me"));
  if (study) {
    studyMode = await enterStudy(study);
    if (studyMode === false) return;  // off to the study's consent page
  }
  if (me.needs_consent && !studyMode) {
    location.replace(`/consent?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  showPlayer(me);
  requestAnimationFrame(tick);
  const saved = RoundOutbox.load();
  if (saved && (await resume(saved))) {
    if (studyMode) showStudyProgress();
    return;
  }
  if (studyMode && (await studyFinished())) return;
  await newRound();
}

main().catch((err) => showProblem(`Something went wrong: ${err.message}. Reload to try again.`));
