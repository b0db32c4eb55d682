// The one entry point bundled into static/vendor/codemirror/codemirror.bundle.js (see build.sh).
// Exposes window.CavraCodeMirror.attach(textarea): a CodeMirror 6 editor (line numbers, YAML) that
// keeps the textarea as the form field, so the form, htmx validation and no-JS use keep working.
import { basicSetup } from "codemirror";
import { EditorView } from "codemirror";
import { EditorState } from "@codemirror/state"; // codemirror depends on it: one instance
import { yaml } from "@codemirror/lang-yaml";

function attach(textarea) {
  const readOnly = textarea.hasAttribute("readonly");
  const view = new EditorView({
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        basicSetup,
        yaml(),
        EditorState.readOnly.of(readOnly),
        // CodeMirror's documented way to bound the height: the editor scrolls, the page does not
        EditorView.theme({ "&": { maxHeight: "42rem" }, ".cm-scroller": { overflow: "auto" } }),
        EditorView.contentAttributes.of({ "aria-label": textarea.getAttribute("aria-label") || "Pack YAML" }),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged) return;
          textarea.value = update.state.doc.toString();
          // htmx listens for `input` on the textarea (hx-trigger ... from:#f-source)
          textarea.dispatchEvent(new Event("input", { bubbles: true }));
        }),
      ],
    }),
  });
  textarea.insertAdjacentElement("afterend", view.dom);
  textarea.hidden = true;
  return view;
}

window.CavraCodeMirror = { attach, EditorView };
