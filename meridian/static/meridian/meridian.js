// Meridian's own scripts: no inline handlers anywhere (the Content-Security-Policy forbids them).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// -- child rows --
// "Add a row" on a form with child rows (core/_child_rows.html): a copy of the blank row kept in a <template>,
// numbered as the next form of Django's formset (its TOTAL_FORMS goes up by one). Without JavaScript the one blank
// row the page always has still adds a row per save.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-child-add]") : null;
  if (!button) {
    return;
  }
  const prefix = button.dataset.childAdd;
  const total = document.getElementById(`id_${prefix}-TOTAL_FORMS`);
  const template = document.getElementById(`${prefix}-empty-row`);
  const body = document.querySelector(`#${prefix}-rows tbody`);
  if (!total || !template || !body) {
    return;
  }
  const index = Number(total.value);
  body.insertAdjacentHTML("beforeend", template.innerHTML.replaceAll("__prefix__", String(index)));
  total.value = String(index + 1);
  const first = body.lastElementChild && body.lastElementChild.querySelector("input:not([type=hidden]), select");
  if (first) {
    first.focus();
  }
});
