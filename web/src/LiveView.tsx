// One workflow, live: the graph coloured by task state (fed by WatchWorkflow: a snapshot, then
// only the tasks that changed, see live.ts), a drawer with the selected task's attempts, and a
// cancel button.
import { Code, ConnectError } from "@connectrpc/connect";
import {
  applyNodeChanges,
  Background,
  Controls,
  type Edge,
  MarkerType,
  type NodeChange,
  ReactFlow,
  ReactFlowProvider,
} from "@xyflow/react";
import { useEffect, useMemo, useState } from "react";

import { errorText, type LiveTask, type LiveWorkflow, taskJson, workflowClient, workflowJson } from "./api";
import { layoutPositions } from "./layout";
import { applyWatch } from "./live";
import { fromWorkflowJson } from "./model";
import { nodeTypes, shortState, type TaskFlowNode } from "./TaskNode";

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELED"]);

function time(value: string | undefined): string {
  return value ? new Date(value).toLocaleTimeString() : "—";
}

function duration(start?: string, end?: string): string {
  if (!start) return "—";
  const ms = (end ? new Date(end).getTime() : Date.now()) - new Date(start).getTime();
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function LiveView({ workflowId }: { workflowId: string }) {
  const [workflow, setWorkflow] = useState<LiveWorkflow | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [canceling, setCanceling] = useState(false);

  useEffect(() => {
    const abort = new AbortController();
    setWorkflow(null);
    setSelected(null);
    void (async () => {
      let delay = 500;
      while (!abort.signal.aborted) {
        try {
          // Each (re)connection starts with a snapshot, then brings only what changed.
          const watch = workflowClient.watchWorkflow({ id: workflowId, changesOnly: true }, { signal: abort.signal });
          for await (const res of watch) {
            const message = {
              workflow: res.workflow ? workflowJson(res.workflow) : undefined,
              snapshot: res.snapshot,
              changedTasks: res.changedTasks.map(taskJson),
            };
            setWorkflow((current) => applyWatch(current, message));
            setError(null);
            delay = 500;
          }
          return; // the stream ends after the terminal state
        } catch (err) {
          if (abort.signal.aborted) return;
          if (err instanceof ConnectError && err.code === Code.NotFound) {
            setError(`Workflow ${workflowId} not found.`);
            return;
          }
          setError(`Watch interrupted (${errorText(err)}); reconnecting…`);
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 5000);
        }
      }
    })();
    return () => abort.abort();
  }, [workflowId]);

  const shape = workflow ? JSON.stringify(workflow.tasks.map((t) => [t.id, t.dependsOn ?? []])) : "";
  const graph = useMemo(() => {
    if (!workflow) return null;
    const draft = fromWorkflowJson(workflow);
    const positions = layoutPositions(draft.nodes.map((n) => n.key), draft.edges);
    return { draft, positions };
    // Laid out once per shape: state changes must not move the nodes.
  }, [shape]);

  const byId = useMemo(() => new Map<string, LiveTask>((workflow?.tasks ?? []).map((t) => [t.id, t])), [workflow]);
  const nodes: TaskFlowNode[] = useMemo(() => {
    if (!graph) return [];
    return graph.draft.nodes.map((n) => {
      const live = byId.get(n.task.id);
      return {
        id: n.key,
        type: "task",
        position: graph.positions.get(n.key)!,
        selected: n.task.id === selected,
        connectable: false,
        ariaLabel: `Task ${n.task.id}: ${shortState(live?.state)}`,
        data: { task: n.task, problems: [], live },
      };
    });
  }, [graph, byId, selected]);
  // Controlled nodes keep what React Flow measured: a status update replaces the node objects,
  // and a node without its measured size stays hidden until a resize that never comes.
  const [flowNodes, setFlowNodes] = useState<TaskFlowNode[]>([]);
  useEffect(() => {
    setFlowNodes((previous) => {
      const measured = new Map(previous.map((n) => [n.id, n.measured]));
      return nodes.map((n) => ({ ...n, measured: measured.get(n.id) ?? n.measured }));
    });
  }, [nodes]);
  const onNodesChange = (changes: NodeChange<TaskFlowNode>[]) =>
    setFlowNodes((ns) => applyNodeChanges(changes, ns));
  const edges: Edge[] = useMemo(() => {
    if (!graph) return [];
    const keyToId = new Map(graph.draft.nodes.map((n) => [n.key, n.task.id]));
    return graph.draft.edges.map((e) => ({
      id: `${e.source}-${e.target}`,
      source: e.source,
      target: e.target,
      type: "smoothstep",
      markerEnd: { type: MarkerType.ArrowClosed },
      animated: shortState(byId.get(keyToId.get(e.target) ?? "")?.state) === "RUNNING",
    }));
  }, [graph, byId]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setSelected(null);
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const state = shortState(workflow?.state);
  const cancel = async () => {
    setCanceling(true);
    try {
      const res = await workflowClient.cancelWorkflow({ id: workflowId, reason: "cancelled from the composer" });
      if (res.workflow) {
        const header = workflowJson(res.workflow);
        setWorkflow((current) => applyWatch(current, { workflow: header, changedTasks: header.tasks }));
      }
    } catch (err) {
      setError(`Cancel failed: ${errorText(err)}`);
    } finally {
      setCanceling(false);
    }
  };
  const task = selected ? byId.get(selected) : undefined;

  return (
    <div className="live">
      <header className="live-header">
        <div>
          <h1>{workflow?.displayName || "Workflow"} <code className="muted">{workflowId}</code></h1>
          <p>
            <span className={`badge state-${state.toLowerCase()}`} data-testid="workflow-state">{workflow ? state : "…"}</span>
            {workflow?.message ? <span className="muted"> {workflow.message}</span> : null}
            <span className="muted"> · created {time(workflow?.createTime)} · ran {duration(workflow?.startTime, workflow?.endTime)}</span>
            {workflow?.tasksTruncated ? (
              <span className="muted" data-testid="tasks-truncated">
                {" "}· showing the first {workflow.tasks.length} of {workflow.taskCount} tasks
              </span>
            ) : null}
          </p>
        </div>
        <button type="button" className="danger" onClick={() => void cancel()}
          disabled={!workflow || TERMINAL.has(state) || state === "CANCELING" || canceling}>
          Cancel workflow
        </button>
      </header>
      {error && <div className="banner error" role="alert">{error}</div>}
      <div className="live-body">
        <div className="canvas" aria-label="Live workflow graph">
          <ReactFlowProvider>
            <ReactFlow nodes={flowNodes} edges={edges} nodeTypes={nodeTypes} nodesConnectable={false}
              onNodesChange={onNodesChange}
              onNodeClick={(_, node) => setSelected((node as TaskFlowNode).data.task.id)}
              onPaneClick={() => setSelected(null)} fitView fitViewOptions={{ maxZoom: 1.2 }}
              proOptions={{ hideAttribution: true }} deleteKeyCode={null} key={shape}>
              <Background />
              <Controls showInteractive={false} />
            </ReactFlow>
          </ReactFlowProvider>
        </div>
        {task && <TaskDrawer task={task} onClose={() => setSelected(null)} />}
      </div>
    </div>
  );
}

function TaskDrawer({ task, onClose }: { task: LiveTask; onClose: () => void }) {
  return (
    <aside className="drawer" aria-label={`Task ${task.id} details`}>
      <div className="drawer-head">
        <h2>{task.id} <small className="muted">{task.type}</small></h2>
        <button type="button" className="link" onClick={onClose} aria-label="Close details">×</button>
      </div>
      <dl>
        <dt>State</dt>
        <dd><span className={`badge state-${shortState(task.state).toLowerCase()}`}>{shortState(task.state)}</span></dd>
        <dt>Attempt</dt>
        <dd>{task.attempt ?? 0}</dd>
        <dt>Participant</dt>
        <dd>{task.participant || "—"}</dd>
        <dt>Instance group</dt>
        <dd>{task.instanceGroup || "default"}</dd>
        <dt>Started</dt>
        <dd>{time(task.startTime)}</dd>
        <dt>Ended</dt>
        <dd>{time(task.endTime)}</dd>
        {task.message ? (<><dt>Message</dt><dd className="message">{task.message}</dd></>) : null}
      </dl>
      {task.outputs && Object.keys(task.outputs).length > 0 && (
        <>
          <h3>Outputs</h3>
          <pre className="json">{JSON.stringify(task.outputs, null, 2)}</pre>
        </>
      )}
      <h3>Attempts</h3>
      <table className="attempts-table">
        <thead>
          <tr><th>#</th><th>State</th><th>Participant</th><th>Started</th><th>Took</th><th>Message</th></tr>
        </thead>
        <tbody>
          {(task.attempts ?? []).map((a, i) => (
            <tr key={`${a.attempt}-${i}`}>
              <td>{a.attempt}</td>
              <td>{shortState(a.state)}</td>
              <td>{a.participant || "—"}</td>
              <td>{time(a.startTime)}</td>
              <td>{duration(a.startTime, a.endTime)}</td>
              <td className="message">{a.message}</td>
            </tr>
          ))}
          {(task.attempts ?? []).length === 0 && <tr><td colSpan={6} className="muted">No attempt yet.</td></tr>}
        </tbody>
      </table>
      {task.params && (
        <>
          <h3>Params</h3>
          <pre className="json">{JSON.stringify(task.params, null, 2)}</pre>
        </>
      )}
    </aside>
  );
}
