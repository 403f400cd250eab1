// Leaderboard page: rows from GET /api/leaderboard. Pseudonyms are player-chosen text, so they
// are only ever set with textContent (never parsed as HTML).

import { api } from "./api.js";

const body = document.getElementById("leaderboard-rows");

function row(cells, className) {
  const tr = document.createElement("tr");
  if (className) tr.className = className;
  for (const [text, cls] of cells) {
    const td = document.createElement("td");
    td.textContent = String(text);
    if (cls) td.className = cls;
    tr.append(td);
  }
  return tr;
}

async function load() {
  try {
    const { entries } = await api("GET", "/api/leaderboard?limit=50");
    body.replaceChildren(...entries.map((e) => {
      const tr = row([
        [e.rank, "rank"], [e.pseudonym, "name"], [e.total_score, "num"], [e.best_round, "num"],
        [e.rounds_played, "num"],
      ], e.me ? "me" : "");
      if (e.me) {
        // The player's own row: marked for the eye and for screen readers alike.
        tr.setAttribute("aria-current", "true");
        const you = document.createElement("span");
        you.className = "you";
        you.textContent = " (you)";
        tr.querySelector(".name").append(you);
      }
      return tr;
    }));
    if (!entries.length) body.replaceChildren(row([["Nobody has played yet. Be the first!"]], "muted"));
  } catch (err) {
    body.replaceChildren(row([[`Could not load the leaderboard (${err.message}).`]], "muted"));
  }
  for (const td of body.querySelectorAll("tr.muted td")) td.colSpan = 5;
}

load();
