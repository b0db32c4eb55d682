/* Forms that answer: toasts for Django messages sent with htmx answers (HX-Trigger "cavra:messages"),
   a visible error when an answer cannot be swapped, and confirmation before destructive submits.
   Which 4xx answers htmx swaps into the form is set by the htmx-config meta in base.html. */
(function () {
  "use strict";

  function region() {
    var box = document.getElementById("toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "toasts";
      box.className = "toasts";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    return box;
  }

  function toast(level, text) {
    var item = document.createElement("div");
    item.className = "toast msg msg-" + (level || "info");
    item.setAttribute("data-testid", "toast");
    var words = document.createElement("span");
    words.textContent = text; // never innerHTML: messages may quote what an agent sent
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(words);
    item.appendChild(close);
    region().appendChild(item);
    window.setTimeout(function () { item.remove(); }, level === "error" ? 15000 : 7000);
  }

  document.addEventListener("cavra:messages", function (event) {
    var list = (event.detail && event.detail.messages) || [];
    list.forEach(function (m) { toast(m.level, m.text); });
  });

  // An error answer htmx does not swap (403, 404, 5xx) must not leave a button that silently did nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if ((xhr.getResponseHeader("HX-Trigger") || "").indexOf("cavra:messages") !== -1) {
      return; // the server already said what went wrong
    }
    var text = {
      403: "You may not do this.",
      404: "This no longer exists, or you cannot see it.",
      429: "Too many attempts; wait a moment and try again."
    }[xhr.status] || "The portal could not do this (HTTP " + xhr.status + "). Nothing was changed; try again.";
    toast("error", text);
  });
  document.addEventListener("htmx:sendError", function () {
    toast("error", "The portal could not be reached. Nothing was sent; check the connection and try again.");
  });

  function question(submitter, form) {
    return (submitter && submitter.getAttribute("data-confirm")) || (form && form.getAttribute("data-confirm"));
  }

  // htmx submits: ask before issuing the request when the clicked button (or the form) says so.
  document.addEventListener("htmx:confirm", function (event) {
    var trigger = event.detail.triggeringEvent;
    var q = question(trigger && trigger.submitter, event.detail.elt.closest && event.detail.elt.closest("form"));
    if (!q) { return; }
    event.preventDefault();
    if (window.confirm(q)) { event.detail.issueRequest(true); }
  });

  // Plain (non-htmx) forms: the same question before the browser submits.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute("hx-post") || form.hasAttribute("hx-put") || form.hasAttribute("hx-delete")) {
      return; // htmx:confirm above handles it
    }
    var q = question(event.submitter, form);
    if (q && !window.confirm(q)) { event.preventDefault(); }
  });
})();
