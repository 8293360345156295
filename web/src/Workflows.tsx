// The workflows page: newest first, filtered by state and labels, a page at a time.
import { useCallback, useEffect, useRef, useState } from "react";

import { errorText, type LiveWorkflow, workflowClient, workflowJson } from "./api";
import { WorkflowState } from "./gen/helicase/v1/workflow_pb";
import { parseLabels } from "./model";
import { shortState } from "./TaskNode";

const PAGE_SIZE = 20;
const STATES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELING", "CANCELED"] as const;

export function Workflows({ onOpen }: { onOpen: (id: string) => void }) {
  const [state, setState] = useState("");
  const [labels, setLabels] = useState(""); // as typed
  const [applied, setApplied] = useState(""); // as last submitted
  const [tokens, setTokens] = useState<string[]>([""]); // page tokens of the pages visited
  const [rows, setRows] = useState<LiveWorkflow[]>([]);
  const [next, setNext] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const token = tokens[tokens.length - 1];
  const latest = useRef(0); // only the newest request's answer is shown (filters change quickly)

  const load = useCallback(async () => {
    const mine = ++latest.current;
    setLoading(true);
    try {
      const res = await workflowClient.listWorkflows({
        pageSize: PAGE_SIZE,
        pageToken: token,
        labels: parseLabels(applied),
        states: state ? [WorkflowState[state as (typeof STATES)[number]]] : [],
      });
      if (mine !== latest.current) return;
      setRows(res.workflows.map(workflowJson));
      setNext(res.nextPageToken);
      setError(null);
    } catch (err) {
      if (mine !== latest.current) return;
      setRows([]);
      setNext("");
      setError(errorText(err));
    } finally {
      if (mine === latest.current) setLoading(false);
    }
  }, [token, state, applied]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <div className="workflows">
      <h1>Workflows</h1>
      <form className="filters" role="search" onSubmit={(e) => { e.preventDefault(); setTokens([""]); if (labels === applied) void load(); else setApplied(labels); }}>
        <label htmlFor="filter-state">State</label>
        <select id="filter-state" value={state} onChange={(e) => { setState(e.target.value); setTokens([""]); }}>
          <option value="">any</option>
          {STATES.map((s) => <option key={s} value={s}>{s.toLowerCase()}</option>)}
        </select>
        <label htmlFor="filter-labels">Labels</label>
        <input id="filter-labels" placeholder="team=chem" value={labels} onChange={(e) => setLabels(e.target.value)} />
        <button type="submit">Filter</button>
        <button type="button" onClick={() => void load()} disabled={loading}>Refresh</button>
      </form>
      {error && <p className="status error" role="alert">{error}</p>}
      <table className="workflow-table">
        <thead>
          <tr><th>Name</th><th>State</th><th>Tasks</th><th>Labels</th><th>Created</th><th>Id</th></tr>
        </thead>
        <tbody>
          {rows.map((w) => (
            <tr key={w.id}>
              <td><a href={`/workflows/${w.id}`} onClick={(e) => { e.preventDefault(); onOpen(w.id); }}>{w.displayName || "(unnamed)"}</a></td>
              <td><span className={`badge state-${shortState(w.state).toLowerCase()}`}>{shortState(w.state)}</span></td>
              <td>{Object.entries(w.taskCounts ?? {}).map(([k, v]) => `${v} ${shortState(k).toLowerCase()}`).join(", ")}</td>
              <td>{Object.entries(w.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(", ")}</td>
              <td>{w.createTime ? new Date(w.createTime).toLocaleString() : ""}</td>
              <td><code>{w.id.slice(0, 8)}</code></td>
            </tr>
          ))}
          {rows.length === 0 && !loading && <tr><td colSpan={6} className="muted">No workflows.</td></tr>}
        </tbody>
      </table>
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={tokens.length < 2} onClick={() => setTokens((t) => t.slice(0, -1))}>Previous</button>
        <span>Page {tokens.length}</span>
        <button type="button" disabled={!next} onClick={() => setTokens((t) => [...t, next])}>Next</button>
      </nav>
    </div>
  );
}
