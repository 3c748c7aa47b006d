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
  if (typeof meridianWidgets === "function") {
    meridianWidgets(body.lastElementChild);
  }
  const first = body.lastElementChild && body.lastElementChild.querySelector("input:not([type=hidden]), select");
  if (first) {
    first.focus();
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

// -- attachments --
// The Attachments tab (core/tabs/attachments.html): files dropped on the drop zone go into the picker and are
// uploaded at once; the form is sent by XMLHttpRequest so that a progress bar can follow the upload, and the
// answer (the tabs part of the page, with the new list or the refusals) replaces the tabs. Without JavaScript the
// form posts as usual.
function uploadAttachments(form) {
  const input = form.querySelector("input[type=file]");
  const progress = form.querySelector(".attachment-progress");
  const status = form.querySelector("[role=status]");
  const count = input && input.files ? input.files.length : 0;
  if (!count) {
    status.textContent = "Choose or drop at least one file.";
    return;
  }
  const data = new FormData(form); // before the inputs are disabled: disabled inputs are not sent
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.setRequestHeader("HX-Request", "true");
  request.setRequestHeader("HX-Target", "record-tabs");
  progress.hidden = false;
  progress.value = 0;
  form.querySelectorAll("button, input").forEach((element) => { element.disabled = true; });
  const noun = count === 1 ? "file" : "files";
  status.textContent = `Uploading ${count} ${noun}…`;
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) {
      progress.value = Math.round((event.loaded / event.total) * 100);
      status.textContent = `Uploading ${count} ${noun}: ${progress.value}%`;
    }
  });
  request.addEventListener("load", () => {
    const tabs = document.getElementById("record-tabs");
    if (tabs && request.responseText.includes('id="record-tabs"')) {
      tabs.outerHTML = request.responseText;
      const fresh = document.getElementById("record-tabs");
      if (window.htmx && fresh) {
        window.htmx.process(fresh);
      }
    } else {
      form.querySelectorAll("button, input").forEach((element) => { element.disabled = false; });
      status.textContent = `The upload failed (${request.status} ${request.statusText}).`;
    }
  });
  request.addEventListener("error", () => {
    form.querySelectorAll("button, input").forEach((element) => { element.disabled = false; });
    status.textContent = "The upload failed: the connection was lost.";
  });
  request.send(data);
}

document.addEventListener("submit", (event) => {
  const form = event.target instanceof HTMLFormElement && event.target.matches("[data-attachments]") ? event.target : null;
  if (!form || !window.FormData || !window.XMLHttpRequest) {
    return;
  }
  event.preventDefault();
  uploadAttachments(form);
});

["dragenter", "dragover"].forEach((kind) => {
  document.addEventListener(kind, (event) => {
    const zone = event.target instanceof Element ? event.target.closest("[data-attachments]") : null;
    if (zone) {
      event.preventDefault();
      zone.classList.add("attachment-dragging");
    }
  });
});

document.addEventListener("dragleave", (event) => {
  const zone = event.target instanceof Element ? event.target.closest("[data-attachments]") : null;
  if (zone && !(event.relatedTarget instanceof Node && zone.contains(event.relatedTarget))) {
    zone.classList.remove("attachment-dragging");
  }
});

document.addEventListener("drop", (event) => {
  const form = event.target instanceof Element ? event.target.closest("[data-attachments]") : null;
  if (!form || !event.dataTransfer || !event.dataTransfer.files.length) {
    return;
  }
  event.preventDefault();
  form.classList.remove("attachment-dragging");
  form.querySelector("input[type=file]").files = event.dataTransfer.files;
  uploadAttachments(form);
});

/* --- api tokens --- */
// "Copy" beside a new API token's secret (core/api_tokens.html): copies the field's value and says so; where the
// clipboard API is not available (plain http), the value is selected for Ctrl+C instead.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-copy-from]") : null;
  if (!button) {
    return;
  }
  const field = document.getElementById(button.dataset.copyFrom);
  const label = button.querySelector("[data-copy-label]") || button;
  if (!field) {
    return;
  }
  const done = (text) => {
    label.textContent = text;
    window.setTimeout(() => {
      label.textContent = "Copy";
    }, 4000);
  };
  field.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(
      () => done("Copied"),
      () => done("Press Ctrl+C"),
    );
  } else {
    done("Press Ctrl+C");
  }
});
/* --- end api tokens --- */
/* --- conversation --- */
// The composer of comments (core/conversation/_composer.html): Write shows the text box, Preview shows the text as
// the server renders it (same sanitiser as a posted comment). A refused comment (400, 409, 413) comes back as the
// tabs part with the errors in place and the text kept: htmx swaps it in like a success.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-comment-write], [data-comment-preview]") : null;
  if (!button) {
    return;
  }
  const form = button.closest("form");
  const text = form && form.querySelector(".comment-text");
  const preview = form && form.querySelector(".comment-preview");
  if (!text || !preview) {
    return;
  }
  const previewing = button.hasAttribute("data-comment-preview");
  text.hidden = previewing;
  preview.hidden = !previewing;
  form.querySelectorAll("[data-comment-write], [data-comment-preview]").forEach((tab) => {
    const active = tab === button;
    tab.classList.toggle("active", active);
    tab.setAttribute("aria-pressed", active ? "true" : "false");
  });
  if (!previewing) {
    text.focus();
  }
});

document.addEventListener("htmx:beforeSwap", (event) => {
  const source = event.detail.elt instanceof Element ? event.detail.elt.closest("[data-comment-form]") : null;
  if (source && [400, 403, 409, 413].includes(event.detail.xhr.status)) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
/* --- end conversation --- */
/* --- bulk actions --- */
// The list's bulk bar (core/_record_table.html): the header's checkbox ticks every row of the page, the bar says
// how many are ticked, and "All N matching" stands for the whole filtered list. On a bulk edit's page
// (core/bulk_action.html), changing a field's value ticks its "Change" box. Without JavaScript each box still works.
function meridianBulkCount() {
  const bar = document.getElementById("bulk-form");
  if (!bar) {
    return;
  }
  const rows = document.querySelectorAll("input[data-bulk-row]");
  const ticked = Array.from(rows).filter((box) => box.checked).length;
  const all = bar.querySelector("[data-bulk-all]");
  const count = bar.querySelector("[data-bulk-count]");
  const page = document.querySelector("input[data-bulk-page]");
  if (page) {
    page.checked = rows.length > 0 && ticked === rows.length;
    page.indeterminate = ticked > 0 && ticked < rows.length;
  }
  if (count) {
    if (all && all.checked) {
      count.textContent = "Every row matching the filters";
    } else {
      count.textContent = ticked ? `${ticked} ticked` : "Tick rows to act on them";
    }
  }
}

document.addEventListener("change", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) {
    return;
  }
  if (target.matches("input[data-bulk-page]")) {
    document.querySelectorAll("input[data-bulk-row]").forEach((box) => {
      box.checked = target.checked;
    });
  }
  if (target.matches("input[data-bulk-page], input[data-bulk-row], input[data-bulk-all]")) {
    meridianBulkCount();
    return;
  }
  const row = target.closest(".bulk-edit-row");
  const change = row && row.querySelector("input[data-bulk-change]");
  if (change && target !== change) {
    change.checked = true;
  }
});

document.addEventListener("htmx:afterSwap", meridianBulkCount);
/* --- end bulk actions --- */

// -- print --
// A "Print" button (the service catalogue): the browser's print dialog, where the print stylesheet leaves out the
// navigation and buttons and "Save as PDF" makes a PDF.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});

// -- live countdowns --
// A ticket's clocks under its title (tickets/banner.html): each [data-countdown] holds the business seconds left as
// the page was made; while it is [data-ticking] (the clock runs inside working hours) it runs down second by second.
// When [data-until] passes (the working day ends or starts) or a countdown reaches zero, the strip is asked for again
// (`?part=banner`): the server replays the clock, this only counts.
let meridianBannerAsked = 0;

function meridianDuration(seconds) {
  const total = Math.abs(Math.round(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, "0");
  const text = hours ? `${hours} h ${String(minutes).padStart(2, "0")} min ${rest} s` : `${minutes} min ${rest} s`;
  return seconds < 0 ? `overdue ${text}` : text;
}

function meridianRefreshBanner(banner) {
  if (Date.now() - meridianBannerAsked < 30000) {
    return; // at most twice a minute, whatever the clocks say
  }
  meridianBannerAsked = Date.now();
  fetch(banner.dataset.bannerUrl, { credentials: "same-origin", headers: { "HX-Request": "true" } })
    .then((response) => (response.status === 204 ? "" : response.ok ? response.text() : Promise.reject(response)))
    .then((html) => {
      banner.outerHTML = html;
    })
    .catch(() => {});
}

function meridianCountdowns() {
  const banner = document.getElementById("record-banner");
  if (!banner) {
    return;
  }
  const now = Date.now();
  let refresh = false;
  banner.querySelectorAll("[data-countdown]").forEach((element) => {
    if (!element.dataset.since) {
      element.dataset.since = String(now);
    }
    const start = Number(element.dataset.countdown);
    const ticking = element.dataset.ticking === "1";
    const left = ticking ? start - (now - Number(element.dataset.since)) / 1000 : start;
    if (ticking) {
      element.textContent = meridianDuration(left);
    }
    const until = element.dataset.until ? Date.parse(element.dataset.until) : NaN;
    if ((ticking && start > 0 && left <= 0) || (!Number.isNaN(until) && now >= until)) {
      refresh = true;
    }
  });
  if (refresh) {
    meridianRefreshBanner(banner);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.getElementById("record-banner")) {
    window.setInterval(meridianCountdowns, 1000);
  }
});

// -- keyboard shortcuts on a record's page --
// Single keys, not while typing in a field and not with Ctrl, Alt or Cmd: listed in the page's "Keyboard shortcuts"
// dialog (core/record_detail.html), which "?" opens.
function meridianTabLinks() {
  return Array.from(document.querySelectorAll(".record-tab-bar a[data-tab]"));
}

function meridianOpenTab(link, then) {
  if (!link) {
    return;
  }
  if (then) {
    document.body.addEventListener("htmx:afterSettle", then, { once: true });
  }
  link.click();
}

function meridianFocusComposer() {
  const box = document.querySelector("#record-tabs textarea[name=body]");
  if (box) {
    box.focus();
  }
}

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-shortcuts]")) {
    document.getElementById("shortcuts").showModal();
  }
});

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) {
    return;
  }
  const target = event.target;
  if (target.closest("input, textarea, select, [contenteditable], dialog[open]") && event.key !== "Escape") {
    return;
  }
  const page = document.querySelector("[data-record-page]");
  if (!page) {
    return;
  }
  const tabs = meridianTabLinks();
  const current = tabs.findIndex((link) => link.classList.contains("active"));
  const actions = {
    "?": () => document.getElementById("shortcuts").showModal(),
    "/": () => document.querySelector(".nav-search input") && document.querySelector(".nav-search input").focus(),
    e: () => document.querySelector("[data-shortcut=edit]") && document.querySelector("[data-shortcut=edit]").click(),
    a: () => document.querySelector(".record-actions [data-action]") && document.querySelector(".record-actions [data-action]").focus(),
    f: () => document.querySelector(".watch-button") && document.querySelector(".watch-button").click(),
    c: () => {
      const timeline = tabs.find((link) => link.dataset.tab === "timeline");
      if (timeline && timeline.classList.contains("active")) {
        meridianFocusComposer();
      } else {
        meridianOpenTab(timeline, meridianFocusComposer);
      }
    },
    "[": () => meridianOpenTab(tabs[Math.max(0, current - 1)]),
    "]": () => meridianOpenTab(tabs[Math.min(tabs.length - 1, current + 1)]),
  };
  const run = actions[event.key];
  if (run) {
    event.preventDefault();
    run();
  }
});
