// The order page's live status: every second, ask for the part of the page that changes
// and swap it in when it differs, until the server marks the order settled. A status swapped
// in is a new element, which screen readers do not announce: the page's announcer (a live
// region that stays) says it instead.
(function () {
  "use strict";
  var INTERVAL_MS = 1000;
  var MAX_POLLS = 120;

  function current() {
    return document.getElementById("order-live");
  }

  function statusText(live) {
    var status = live.querySelector("[role=status]");
    return status ? status.textContent.replace(/\s+/g, " ").trim() : "";
  }

  function announce(text) {
    var announcer = document.getElementById("order-announcer");
    if (announcer && text) {
      announcer.textContent = text;
    }
  }

  function showCancel(live) {
    var cancel = document.getElementById("cancel-order");
    if (cancel) {
      cancel.hidden = live.getAttribute("data-cancellable") !== "true";
    }
  }

  function poll(remaining) {
    var live = current();
    if (!live || live.getAttribute("data-settled") === "true" || remaining <= 0) {
      return;
    }
    fetch(live.getAttribute("data-live-url"), { headers: { accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html) {
          var next = document.createElement("template");
          next.innerHTML = html.trim();
          var fresh = next.content.firstElementChild;
          var shown = current();
          if (fresh && fresh.outerHTML !== shown.outerHTML) {
            var before = statusText(shown);
            shown.replaceWith(fresh);
            showCancel(fresh);
            if (statusText(fresh) !== before) {
              announce(statusText(fresh));
            }
          }
        }
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () {
        window.setTimeout(function () { poll(remaining - 1); }, INTERVAL_MS);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    window.setTimeout(function () { poll(MAX_POLLS); }, INTERVAL_MS);
  });
})();
