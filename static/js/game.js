// The game page: starts or resumes a round, feeds brush points to the outbox, shows the AI's
// guesses, the timer and the result. The server decides every outcome; this page only shows it.

import { api, ApiError, nowEpoch, openGameSocket, RoundClock, RoundOutbox, uuid4 } from "./api.js";
import { Board } from "./board.js";
import { maskBits } from "./geometry.js";

const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const el = {
  category: byTestId("category"),
  timerFill: document.querySelector(".timer-fill"),
  timerText: document.querySelector(".timer-text"),
  timer: byTestId("timer"),
  guess: byTestId("ai-guess"),
  need: byTestId("need"),
  top3: document.getElementById("top3"),
  stage: document.querySelector(".stage"),
  loading: byTestId("loading"),
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
  nameCount: document.getElementById("name-count"),
  nameSave: document.getElementById("name-save"),
  studyProgress: document.getElementById("study-progress"),
  studyBar: document.getElementById("study-bar"),
  studyWithdraw: byTestId("study-withdraw"),
  studyDone: byTestId("study-done"),
  studyDoneStatus: document.getElementById("study-done-status"),
  studyCredit: byTestId("study-credit"),
  roundHint: document.getElementById("round-hint"),
  main: document.querySelector("main.game"),
};
const study = new URLSearchParams(location.search).get("study") || null;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

let outbox = null;      // RoundOutbox of the round on screen
let state = null;       // the latest round state from the server
let clock = new RoundClock();  // the server's round clock, as seen from this page
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

/**
 * What kind of device the round is played on, stored with the round so the analysis can tell
 * phone maps from desktop maps: a coarse (touch) pointer with a short screen side under 600 CSS
 * px is a phone, a larger one a tablet, a fine pointer (mouse, trackpad) a desktop.
 */
function deviceClass() {
  if (!matchMedia("(pointer: coarse)").matches) return "desktop";
  return Math.min(screen.width, screen.height) < 600 ? "phone" : "tablet";
}

/** Start a fresh round: the page names it (so a re-sent request cannot create two). */
async function newRound() {
  resetView();
  const rec = { roundId: uuid4(), study, startEpoch: null, stimulus: null, settings: null,
    points: [], acked: 0, refused: 0, end: null };
  outbox = makeOutbox(rec);  // saved before the request: a reload mid-request finds the round
  let st;
  try {
    st = await persistent(() => api("POST", "/api/rounds",
      { round_id: rec.roundId, study, device_class: deviceClass() }));
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
  clock = new RoundClock();
  clock.observe(st);
  // t = 0 is when the server started the round (round-trip corrected); kept in localStorage so
  // it survives reloads.
  if (rec.startEpoch === null) rec.startEpoch = clock.start ?? nowEpoch() - st.elapsed_ms;
  rec.stimulus = st.stimulus;
  rec.settings = st.settings;
  outbox.save();
  gray = await loadGray(st.stimulus);
  board.setStimulus(gray, st.stimulus.width, st.stimulus.height, st.settings.brush_radius_px);
  board.addPoints(rec.points);
  el.hint.hidden = rec.points.length > 0;
  showCategory(st.stimulus.category);
  showLoading(false);  // the drawing is on screen: only now does the timer show
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

const percent = (p) => `${Math.round(p * 100)}%`;

/** The recognition rule, where the player looks: top guess AND at least this sure. */
function showNeed(st) {
  const need = st.settings.recognition_min_prob;
  const target = document.createElement("b");
  target.textContent = st.stimulus.category;
  const guess = st.guess && st.guess.top5 && st.guess.top5.length ? st.guess : null;
  if (!guess) {
    el.need.replaceChildren("Wins when its top guess is ", target, `, at least ${percent(need)} sure.`);
  } else if (guess.correct) {
    el.need.replaceChildren("Top guess and sure enough: recognised.");
  } else {
    const mine = guess.top5.find((g) => g.label === st.stimulus.category);
    const p = mine ? mine.p : 0;
    const isTop = guess.top5[0].label === st.stimulus.category;
    const least = guess.top5[guess.top5.length - 1].p;  // not in the top 5: below the fifth
    el.need.replaceChildren(target, ` ${mine ? percent(p) : "<" + percent(least)}: `,
      isTop ? `top guess, but it must be at least ${percent(need)} sure.`
        : `must be the top guess, at least ${percent(need)} sure.`);
  }
  el.top3.style.setProperty("--need", percent(need));
}

function showGuess(guess, category) {
  if (!guess || !guess.top5 || !guess.top5.length) return;
  const top = guess.top5[0];
  const label = document.createElement("b");
  label.textContent = top.label;
  el.guess.replaceChildren(guess.correct ? "Got it: " : "I think it's ", label,
    ` (${percent(top.p)})`);
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
  clock.observe(st);
  showGuess(st.guess, st.stimulus.category);
  showNeed(st);
  showPlayer({ pseudonym: el.pseudonym.textContent, total_score: st.total_score,
    best_round: st.best_round });
  if (st.status !== "active" && !wasEnded) finish(st);
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const OUTCOME = {
  recognized: (st) => `+${st.points} points! Recognised after ${seconds(st.duration_ms ?? st.elapsed_ms)}.`,
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
  showStudyCredit(st);
  // The timer stops where the server says the round ended, in step with the outcome's time; a
  // timeout has nothing left, even when the server accepted the page's timeout a little early.
  const total = st.settings.timer_ms;
  const left = st.status === "timeout" ? 0
    : Math.min(total, Math.max(0, total - (st.duration_ms ?? st.elapsed_ms)));
  el.timer.classList.add("stopped");
  el.timer.classList.remove("low");
  el.timerFill.style.transform = `scaleX(${left / total})`;
  el.timerText.textContent = seconds(left);
  api("GET", "/api/me").then((me) => showPlayer(me)).catch(() => {});
  showNext("Next drawing");
  keepOutcomeInView();
}

function showNext(label) {
  el.next.textContent = label;
  el.next.hidden = false;
  el.next.disabled = false;
  el.next.focus({ preventScroll: true });
}

/** Between rounds: nothing of the old round stays on screen, and the timer waits. */
function showLoading(on) {
  el.stage.classList.toggle("loading", on);
  el.loading.hidden = !on;
  el.timer.classList.toggle("waiting", on);
}

function resetView() {
  window.__da.ready = false;
  state = null;
  ending = false;
  board.clear();
  showLoading(true);
  el.hint.hidden = true;
  el.result.textContent = "";
  delete el.result.dataset.status;
  showStudyCredit(null);
  el.guess.textContent = "Nothing yet: brush to show it something.";
  el.guess.classList.remove("correct");
  el.need.textContent = "";
  el.top3.replaceChildren();
  el.category.textContent = "Loading a drawing…";
  el.next.hidden = true;
  el.skip.disabled = true;
  el.timer.classList.remove("stopped", "low");
  el.timerFill.style.transform = "scaleX(1)";
  el.timerText.textContent = "–";
  showProblem("");
  // Every round starts with the prompt, the timer and the whole canvas in view (on a phone
  // the player scrolled down to reach "Next"; a round played half off-screen skews the map).
  window.scrollTo({ top: 0, left: 0, behavior: "instant" });
}

/** The timer bar, and the timeout request when the page's clock runs out. */
function tick() {
  if (state && state.status === "active") {
    const total = state.settings.timer_ms;
    const left = Math.max(0, total - clock.elapsed());
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

/** The outcome, the study's "counted?" line and Next must be on screen when a round ends: the
 * layout leaves room for them on phones (site.css), and where a long message or a tall guess
 * card still pushes them below the screen, the page scrolls just enough (never while brushing:
 * the round is over). */
function keepOutcomeInView() {
  el.result.closest(".round-card").scrollIntoView({ block: "nearest", behavior: "instant" });
}

/** In a study, whether the round that just ended counts toward completion, and if not why, in
 * the server's words (`study_credit` of the round state: the one rule the server, the dashboard
 * and the docs use). Nothing outside a study. */
function showStudyCredit(st) {
  const credit = studyMode && st ? st.study_credit : null;
  el.studyCredit.hidden = !credit;
  if (!credit) return;
  el.studyCredit.dataset.counts = String(credit.counts);
  el.studyCredit.textContent = credit.counts
    ? "This round counts toward the study."
    : `Not counted: ${credit.reason}. You will get another drawing instead.`;
}

function showStudyProgress() {
  const st = studyMode.state;
  el.roundHint.textContent = "Unclear drawing? Skip it: you get another one, but a skipped round does not count toward the study.";
  el.main.classList.add("in-study");  // the canvas leaves room for the "counted?" line (site.css)
  el.studyProgress.textContent = `Round ${Math.min(st.rounds_done + 1, st.rounds_total)} of ${st.rounds_total}`;
  el.studyProgress.hidden = false;
  el.studyWithdraw.href = st.withdraw_url;  // withdrawing is possible at any moment of play
  el.studyBar.hidden = false;
}

/** After a round: when the participant has played them all, have the server confirm every
 * point is stored, then show the way back to the recruitment platform. */
async function studyFinished() {
  studyMode.state = await persistent(() => studyMode.lib.loadStudy(studyMode.slug));
  showStudyProgress();
  if (!studyMode.lib.isFinished(studyMode.state)) return false;
  // The end of the study is its own page: no drawing, timer or Skip left over from the game.
  board.setEnabled(false);
  el.main.classList.add("finished");
  el.studyDone.hidden = false;
  el.studyDone.querySelector("h1").focus({ preventScroll: true });
  window.scrollTo({ top: 0, left: 0, behavior: "instant" });
  const say = (text) => { el.studyDoneStatus.textContent = text; };
  say("Checking that all your answers are saved… please keep this page open.");
  const url = await studyMode.lib.completeStudy(studyMode.slug, {
    onWait: () => say("Still saving your answers, please keep this page open…"),
  });
  if (url && /^https?:\/\//.test(url)) {
    say("Everything is saved. To get your completion confirmed, return to the study platform:");
    const a = document.createElement("a");
    a.href = url;
    a.className = "button primary";
    a.dataset.testid = "completion-link";
    a.textContent = "Return to the study platform";
    el.studyDoneStatus.append(" ", a);
  } else {
    say("Everything is saved. You can close this page.");
  }
  return true;
}

/** Say how long the pseudonym may be, and say it plainly when it is too long: a name is
 * never cut short behind the player's back. */
function showNameLength() {
  const max = Number(el.nameInput.dataset.max);
  const length = [...el.nameInput.value.trim()].length;
  const tooLong = length > max;
  el.nameCount.textContent = tooLong
    ? `Too long: ${length} characters, at most ${max}. Please shorten it.`
    : `${length} of at most ${max} characters.`;
  el.nameCount.classList.toggle("problem", tooLong);
  el.nameInput.setAttribute("aria-invalid", String(tooLong));
  el.nameSave.disabled = tooLong || length === 0;
}

el.nameInput.addEventListener("input", showNameLength);

el.editName.addEventListener("click", () => {
  const open = el.nameForm.hidden;
  el.nameForm.hidden = !open;
  el.editName.setAttribute("aria-expanded", String(open));
  if (open) {
    el.nameInput.value = el.pseudonym.textContent;
    showNameLength();
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
  await openGameSocket();
  const saved = RoundOutbox.load();
  if (saved && (await resume(saved))) {
    if (studyMode) showStudyProgress();
    return;
  }
  if (studyMode && (await studyFinished())) return;
  await newRound();
}

main().catch((err) => showProblem(`Something went wrong: ${err.message}. Reload to try again.`));
