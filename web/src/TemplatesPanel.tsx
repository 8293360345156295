// Saved templates (TemplateService): save the drawing as a new template, update the loaded one,
// load or delete any.
import { toJson } from "@bufbuild/protobuf";
import { useCallback, useEffect, useState } from "react";

import { errorText, fieldViolations, templateClient, templateMessage } from "./api";
import { WorkflowSchema } from "./gen/helicase/v1/workflow_pb";
import type { FieldViolation, WorkflowJson } from "./model";

export interface LoadedTemplate {
  id: string;
  name: string;
  description: string;
}

interface Props {
  current: LoadedTemplate | null;
  workflow: () => WorkflowJson;
  canSave: () => boolean;
  onLoad: (template: LoadedTemplate, workflow: unknown) => void;
  onSaved: (template: LoadedTemplate) => void;
  onServerErrors: (violations: FieldViolation[]) => void;
}

interface Row {
  id: string;
  name: string;
  description: string;
  tasks: number;
}

export function TemplatesPanel({ current, workflow, canSave, onLoad, onSaved, onServerErrors }: Props) {
  const [rows, setRows] = useState<Row[]>([]);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [status, setStatus] = useState<{ error: boolean; text: string } | null>(null);

  const refresh = useCallback(async () => {
    try {
      const res = await templateClient.listTemplates({ pageSize: 200 });
      setRows(res.templates.map((t) => ({ id: t.id, name: t.name, description: t.description, tasks: t.workflow?.tasks.length ?? 0 })));
    } catch (err) {
      setStatus({ error: true, text: `Cannot list templates: ${errorText(err)}` });
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(() => {
    if (current) {
      setName(current.name);
      setDescription(current.description);
    }
  }, [current]);

  const failed = (verb: string, err: unknown) => {
    const violations = fieldViolations(err);
    const own = violations.filter((v) => !v.field.startsWith("template.workflow"));
    if (violations.length > own.length) onServerErrors(violations);
    const text = own.length ? own.map((v) => `${v.field.replace("template.", "")}: ${v.description}`).join("; ") : errorText(err);
    setStatus({ error: true, text: `${verb} failed: ${text}` });
  };

  const save = async (update: boolean) => {
    if (!canSave()) {
      setStatus({ error: true, text: "Fix the marked problems before saving." });
      return;
    }
    try {
      const message = templateMessage({ ...(update && current ? { id: current.id } : {}), name, description, workflow: workflow() });
      const res = update
        ? await templateClient.updateTemplate({ template: message })
        : await templateClient.createTemplate({ template: message });
      const t = res.template!;
      onSaved({ id: t.id, name: t.name, description: t.description });
      setStatus({ error: false, text: `${update ? "Updated" : "Saved"} template “${t.name}”.` });
      await refresh();
    } catch (err) {
      failed(update ? "Update" : "Save", err);
    }
  };

  const load = async (id: string) => {
    try {
      const res = await templateClient.getTemplate({ id });
      const t = res.template!;
      onLoad({ id: t.id, name: t.name, description: t.description }, toJson(WorkflowSchema, t.workflow!));
      setStatus({ error: false, text: `Loaded template “${t.name}”.` });
    } catch (err) {
      failed("Load", err);
    }
  };

  const remove = async (row: Row) => {
    if (!window.confirm(`Delete template “${row.name}”?`)) return;
    try {
      await templateClient.deleteTemplate({ id: row.id });
      setStatus({ error: false, text: `Deleted template “${row.name}”.` });
      await refresh();
    } catch (err) {
      failed("Delete", err);
    }
  };

  return (
    <section className="templates" aria-label="Templates">
      <h2>Templates</h2>
      <div className="field">
        <label htmlFor="tpl-name">Template name</label>
        <input id="tpl-name" value={name} onChange={(e) => setName(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="tpl-description">Description</label>
        <input id="tpl-description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </div>
      <div className="row">
        <button type="button" onClick={() => void save(false)}>Save as new</button>
        <button type="button" disabled={!current} onClick={() => void save(true)}
          title={current ? `Update “${current.name}”` : "Load a template first"}>Update</button>
      </div>
      {status && (
        <p className={status.error ? "status error" : "status"} role={status.error ? "alert" : "status"}>{status.text}</p>
      )}
      <ul className="template-list">
        {rows.map((row) => (
          <li key={row.id} className={current?.id === row.id ? "current" : undefined}>
            <span className="template-name" title={row.description}>{row.name}</span>
            <span className="muted"> ({row.tasks})</span>
            <span className="row">
              <button type="button" onClick={() => void load(row.id)} aria-label={`Load template ${row.name}`}>Load</button>
              <button type="button" className="danger" onClick={() => void remove(row)}
                aria-label={`Delete template ${row.name}`}>Delete</button>
            </span>
          </li>
        ))}
        {rows.length === 0 && <li className="muted">No templates yet.</li>}
      </ul>
    </section>
  );
}
