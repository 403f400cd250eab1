// Consent page: the agreement is stored by the API (POST /api/consent) with the version the
// player actually read, then the player goes on to the game.

import { api } from "./api.js";

const form = document.getElementById("consent-form");
const problem = document.getElementById("consent-problem");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  problem.hidden = true;
  try {
    await api("POST", "/api/consent", { version: form.dataset.version, agree: true });
    location.assign(form.dataset.next || "/");
  } catch (err) {
    problem.textContent = `Could not save your answer (${err.message}). Please try again.`;
    problem.hidden = false;
    button.disabled = false;
  }
});
