// Research pages: copy buttons for study links, and the study form's projection of how many
// rounds (and participants) a study needs. Plain module, no inline scripts (CSP-friendly).

/** Buttons with data-copy put that text on the clipboard and say so. */
function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "Copied";
      } catch (_) {
        button.textContent = "Select and copy the link";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 2500);
    });
  }
}

/**
 * The study form: stimuli used × target rounds = rounds needed, ÷ rounds per participant =
 * participants needed, updated as the researcher types (the dashboard shows the same figures
 * from the server once the study exists).
 */
function setUpProjection() {
  const out = document.getElementById("projection");
  if (!out) return;
  const form = out.closest("form");
  const number = (name) => Number(form.elements[name].value) || 0;
  const update = () => {
    const available = [...form.querySelectorAll("input[name=sets]:checked")]
      .reduce((sum, box) => sum + Number(box.dataset.size || 0), 0);
    if (!available) {
      out.textContent = "Choose stimulus sets to see how many rounds the study needs.";
      return;
    }
    const asked = number("n_stimuli");
    const used = asked > 0 ? Math.min(asked, available) : available;
    const target = number("target_rounds_per_stimulus");
    const perPerson = number("rounds_per_participant");
    const rounds = used * target;
    const people = perPerson ? Math.ceil(rounds / perPerson) : 0;
    out.textContent = `Projected: ${used} stimuli × ${target} rounds = ${rounds} rounds, about ` +
      `${people} participants at ${perPerson} rounds each.` +
      (asked > available ? ` The chosen sets hold only ${available} stimuli.` : "");
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}

setUpCopyButtons();
setUpProjection();
