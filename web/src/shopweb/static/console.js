// The stack view refreshes its panel in place every few seconds, and an order's timeline
// reloads while its saga runs; the rest of the console is plain pages.
(function () {
  const settling = document.querySelector("[data-reload-every-ms]");
  if (settling) {
    setTimeout(() => location.reload(), Number(settling.dataset.reloadEveryMs) || 3000);
  }
})();

// The stack panel: fetched again in place; skipped while the tab is hidden.
(function () {
  const panel = document.getElementById("stack-panel");
  if (!panel) return;
  const every = Number(panel.dataset.everyMs) || 5000;
  async function refresh() {
    if (document.hidden) return;
    try {
      const reply = await fetch(panel.dataset.refresh, { credentials: "same-origin" });
      if (reply.ok) panel.innerHTML = await reply.text();
    } catch (error) {
      // The next tick tries again.
    }
  }
  setInterval(refresh, every);
})();
