// Progressive enhancement of the policy draft editor: CodeMirror 6 (vendored, no network) replaces
// the textarea on screen; the textarea stays the form field and htmx keeps validating as one types.
(function () {
  function enhance() {
    var textarea = document.getElementById("f-source");
    if (!textarea || !window.CavraCodeMirror || textarea.dataset.enhanced) return;
    textarea.dataset.enhanced = "1";
    var lines = textarea.parentElement.querySelector(".editor-lines");
    if (lines) lines.hidden = true; // CodeMirror shows its own line numbers
    window.CavraCodeMirror.attach(textarea);
    textarea.parentElement.classList.add("editor-enhanced");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", enhance);
  else enhance();
})();
