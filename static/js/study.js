// Study mode of the game page (recruited participants, e.g. Prolific).
//
// The game page imports this module only when the URL has ?study=<slug>. It keeps, per study,
// how many points the page sent in each round (in localStorage, so a reload forgets nothing),
// and finishes the study by asking the server to confirm that it holds every one of them.
// Only that confirmation carries the completion URL: nobody is sent back to Prolific while a
// round's points are still on their way.
//
//   const st = await loadStudy(slug);            // {rounds_total, rounds_done, completed, ...}
//   recordRound(slug, roundId, pointsSent);      // after each round has ended and drained
//   if (isFinished(st)) location.assign(await completeStudy(slug));

import { api, ApiError } from "./api.js";

const KEY = (slug) => `da.study.${slug}.sent.v1`;
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

/** `api()` with the answer's status instead of an exception (200 stands for any success). */
async function json(method, url, body) {
  try {
    return { status: 200, data: await api(method, url, body) };
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, data: err.body };
    throw err;  // a network failure (TypeError): the caller retries
  }
}

/** The participant's progress: GET /study/<slug>/state (403 when not a participant). */
export async function loadStudy(slug) {
  const { status, data } = await json("GET", `/study/${encodeURIComponent(slug)}/state`);
  if (status !== 200) throw new Error((data && data.error) || `HTTP ${status}`);
  return data;
}

/** Points the page sent per round of this study, as kept so far. */
export function sentCounts(slug) {
  try {
    return JSON.parse(localStorage.getItem(KEY(slug)) || "{}");
  } catch (_) {
    return {};
  }
}

/** Remember how many points the page sent in a round (call once the round is over). */
export function recordRound(slug, roundId, pointsSent) {
  const counts = sentCounts(slug);
  counts[roundId] = pointsSent;
  localStorage.setItem(KEY(slug), JSON.stringify(counts));
}

export function isFinished(st) {
  return st.completed || st.rounds_done >= st.rounds_total;
}

/**
 * Ask the server to confirm every round is saved; resolves with the completion URL.
 * A 409 means something is still missing (e.g. the last batch is in flight): `onWait` gets the
 * server's list and the request is repeated with backoff, `attempts` times at most.
 */
export async function completeStudy(slug, { onWait = () => {}, attempts = 8 } = {}) {
  const url = `/study/${encodeURIComponent(slug)}/complete`;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let answer;
    try {
      answer = await json("POST", url, { rounds: sentCounts(slug) });
    } catch (_) {
      answer = { status: 0, data: null };  // network failure: try again
    }
    if (answer.status === 200) {
      localStorage.removeItem(KEY(slug));
      return answer.data.completion_url;
    }
    if (answer.status !== 409 && answer.status !== 0 && answer.status < 500) {
      throw new Error((answer.data && answer.data.error) || `HTTP ${answer.status}`);
    }
    onWait(answer.data);
    await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
  }
  throw new Error("The server has not confirmed all rounds yet. Please keep this page open and try again.");
}
