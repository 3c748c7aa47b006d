// Meridian's own scripts: no inline handlers anywhere (the Content-Security-Policy forbids them).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// -- widgets --
// Record pickers (forms.choose_widgets): a <select data-record-select> becomes a Tom Select. "local": every record
// the reader may see is already an <option>, searched in the browser. "remote": only the selected records are
// rendered; typing searches the related type's API list (`?q=`), which returns only what the reader may see.
// Without JavaScript the plain <select> still works.
function meridianRecordSelect(select) {
  if (select.tomselect || typeof window.TomSelect === "undefined") {
    return;
  }
  const remote = select.dataset.recordSelect === "remote";
  const url = select.dataset.searchUrl;
  const settings = {
    maxOptions: 100,
    allowEmptyOption: false, // the "---------" choice: shown as the placeholder, cleared with the × button
    plugins: select.multiple ? ["remove_button"] : select.dataset.optional ? ["clear_button"] : [],
    placeholder: select.dataset.placeholder || (remote ? "Type to search…" : "Choose…"),
    render: {
      no_results: (data, escape) => `<div class="no-results">No match for “${escape(data.input)}”.</div>`,
      loading: () => '<div class="spinner-border spinner-border-sm m-2" role="status"><span class="visually-hidden">Searching…</span></div>',
    },
  };
  if (remote && url) {
    settings.shouldLoad = (query) => query.trim().length > 0;
    settings.score = () => () => 1; // the server has matched (name, email...): keep its answer as it is
    settings.load = (query, callback) => {
      const address = `${url}?q=${encodeURIComponent(query)}&page_size=20`;
      fetch(address, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : Promise.reject(response)))
        .then((data) => callback(data.results.map((row) => ({ value: String(row.id), text: row.display }))))
        .catch(() => callback());
    };
  }
  new window.TomSelect(select, settings);
}

function meridianWidgets(root) {
  root.querySelectorAll("select[data-record-select]").forEach(meridianRecordSelect);
}

document.addEventListener("DOMContentLoaded", () => meridianWidgets(document));
document.addEventListener("htmx:load", (event) => meridianWidgets(event.target));
