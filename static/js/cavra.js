// CAVRA Portal page behaviour. Kept out of the HTML: the Content-Security-Policy allows no inline
// script and no eval, so htmx trigger filters and js: values live here as event listeners.
(function () {
  "use strict";

  // <select data-autosubmit>: choosing an option submits its form (the tenant switcher).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.matches && el.matches("select[data-autosubmit]") && el.form) {
      el.form.requestSubmit();
    }
  });

  // [data-poll-version]: a polled region sends the version it shows, so the server can answer
  // "unchanged" cheaply...
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.dataset && elt.dataset.pollVersion !== undefined) {
      event.detail.parameters.v = elt.dataset.pollVersion;
    }
  });

  // ...and does not refresh while someone is typing in a form inside it (a reason, say), nor while
  // a review inside it is in flight (the refresh would replace the row the answer is meant for).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.dataset || elt.dataset.pollVersion === undefined) return;
    var active = document.activeElement;
    if (active && active.closest && elt.contains(active) && active.closest("form")) {
      event.preventDefault();
    } else if (elt.querySelector(".htmx-request")) {
      event.preventDefault();
    }
  });
  // <button data-copy="#id">: copy that element's text (a redirect URI) and say so on the button.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });
})();
