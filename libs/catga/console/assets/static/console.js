// The saga console's only script: live updates and the confirmation
// dialog. Without it the page reloads itself and actions confirm on a page
// of their own.
"use strict";
(function () {
  const live = document.getElementById("live");
  const status = document.getElementById("live-status");
  if (live && live.dataset.stream && window.EventSource) {
    const es = new EventSource(live.dataset.stream);
    es.addEventListener("open", () => { status && (status.className = "live on", status.textContent = "live"); });
    es.addEventListener("update", (e) => { live.innerHTML = e.data; });
    es.addEventListener("problem", (e) => { status && (status.className = "live off", status.textContent = e.data); });
    es.addEventListener("error", () => { status && (status.className = "live off", status.textContent = "reconnecting…"); });
  }
  const dialog = document.getElementById("confirm");
  if (!dialog || !dialog.showModal) return;
  const form = document.getElementById("confirm-form");
  // Delegated: the buttons live in the region the stream replaces.
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-confirm]");
    if (!b) return;
    e.preventDefault();
    form.action = b.form.action;
    document.getElementById("confirm-title").textContent = b.dataset.confirm + "?";
    document.getElementById("confirm-hint").textContent = b.dataset.hint || "";
    document.getElementById("confirm-id").textContent = b.dataset.saga;
    document.getElementById("confirm-value").value = b.dataset.saga;
    document.getElementById("confirm-ok").textContent = "Yes, " + b.dataset.confirm.toLowerCase();
    dialog.showModal();
  });
  document.getElementById("confirm-cancel").addEventListener("click", () => dialog.close());
})();
