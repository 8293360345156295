// Import and export of the wire contract's workflow JSON ({"workflow": {...}}).
import { useRef, useState } from "react";

import { type Draft, fromWorkflowJson, type WorkflowJson } from "./model";

interface Props {
  workflow: () => WorkflowJson;
  onImport: (draft: Draft) => void;
}

export function ImportExport({ workflow, onImport }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [mode, setMode] = useState<"import" | "export">("export");
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);

  const open = (which: "import" | "export") => {
    setMode(which);
    setError(null);
    setText(which === "export" ? JSON.stringify({ workflow: workflow() }, null, 2) : "");
    dialog.current?.showModal();
  };

  const doImport = () => {
    try {
      onImport(fromWorkflowJson(JSON.parse(text)));
      dialog.current?.close();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `${workflow().displayName || "workflow"}.json`;
    a.click();
    URL.revokeObjectURL(url);
  };

  return (
    <>
      <button type="button" onClick={() => open("import")}>Import JSON</button>
      <button type="button" onClick={() => open("export")}>Export JSON</button>
      <dialog ref={dialog} className="json-dialog" aria-label={mode === "import" ? "Import workflow JSON" : "Export workflow JSON"}>
        <h2>{mode === "import" ? "Import workflow JSON" : "Workflow JSON"}</h2>
        <label htmlFor="workflow-json">
          {mode === "import" ? "Paste a CreateWorkflow request or a workflow, or pick a file" : "The wire contract's CreateWorkflow body"}
        </label>
        <textarea id="workflow-json" rows={18} value={text} readOnly={mode === "export"} spellCheck={false}
          onChange={(e) => setText(e.target.value)} />
        {mode === "import" && (
          <input type="file" accept="application/json,.json" aria-label="Workflow JSON file"
            onChange={async (e) => {
              const file = e.target.files?.[0];
              if (file) setText(await file.text());
            }} />
        )}
        {error && <p className="status error" role="alert">Cannot import: {error}</p>}
        <div className="row">
          {mode === "import" ? (
            <button type="button" className="primary" onClick={doImport}>Import</button>
          ) : (
            <button type="button" className="primary" onClick={download}>Download</button>
          )}
          <button type="button" onClick={() => dialog.current?.close()}>Close</button>
        </div>
      </dialog>
    </>
  );
}
