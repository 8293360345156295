// The composer: palette of live task types, the canvas, the inspector, templates, import/export
// and deploy. The drawing is React Flow's nodes and edges; model.ts turns it into workflow JSON.
import {
  addEdge,
  applyEdgeChanges,
  applyNodeChanges,
  Background,
  type Connection,
  Controls,
  type Edge,
  type EdgeChange,
  MarkerType,
  type NodeChange,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
} from "@xyflow/react";
import { type DragEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";

import { createRequest, errorText, fieldViolations, workflowClient } from "./api";
import { ImportExport } from "./ImportExport";
import { Inspector, type WorkflowMeta } from "./Inspector";
import { layoutPositions, NODE_WIDTH } from "./layout";
import {
  type Draft,
  type FieldViolation,
  fromWorkflowJson,
  newTask,
  nextTaskId,
  type Problems,
  problemCount,
  type TaskDraft,
  type TaskTypeInfo,
  toWorkflowJson,
  validateDraft,
  violationsToProblems,
} from "./model";
import { nodeTypes, type TaskFlowNode } from "./TaskNode";
import { type LoadedTemplate, TemplatesPanel } from "./TemplatesPanel";

const DRAG_TYPE = "application/helicase-task-type";
const EDGE_DEFAULTS = { markerEnd: { type: MarkerType.ArrowClosed }, type: "smoothstep" } as const;

interface Snapshot {
  nodes: TaskFlowNode[];
  edges: Edge[];
  meta: WorkflowMeta;
}

interface Props {
  types: TaskTypeInfo[] | null;
  typesError: string | null;
  onDeployed: (workflowId: string) => void;
  active: boolean;
}

export function Composer(props: Props) {
  return (
    <ReactFlowProvider>
      <ComposerCanvas {...props} />
    </ReactFlowProvider>
  );
}

function mergeProblems(a: Problems, b: Problems | null): Problems {
  if (!b) return a;
  const byNode: Record<string, string[]> = { ...a.byNode };
  for (const [key, list] of Object.entries(b.byNode)) byNode[key] = [...(byNode[key] ?? []), ...list];
  return { byNode, global: [...a.global, ...b.global] };
}

function ComposerCanvas({ types, typesError, onDeployed, active }: Props) {
  const flow = useReactFlow();
  const canvas = useRef<HTMLDivElement>(null);
  const [nodes, setNodes] = useState<TaskFlowNode[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  const [meta, setMeta] = useState<WorkflowMeta>({ displayName: "", labels: {}, failurePolicy: "FAILURE_POLICY_FAIL_FAST" });
  const [serverProblems, setServerProblems] = useState<Problems | null>(null);
  const [banner, setBanner] = useState<{ error: boolean; text: string } | null>(null);
  const [deploying, setDeploying] = useState(false);
  const [template, setTemplate] = useState<LoadedTemplate | null>(null);
  const history = useRef<Snapshot[]>([]);
  const nextKey = useRef(1);
  const current = useRef<Snapshot>({ nodes, edges, meta });
  current.current = { nodes, edges, meta };

  const typeMap = useMemo(() => (types ? new Map(types.map((t) => [t.name, t])) : null), [types]);
  const draft: Draft = useMemo(
    () => ({
      ...meta,
      nodes: nodes.map((n) => ({ key: n.id, task: n.data.task, position: n.position })),
      edges: edges.map((e) => ({ source: e.source, target: e.target })),
    }),
    [meta, nodes, edges],
  );
  const problems = useMemo(() => mergeProblems(validateDraft(draft, typeMap), serverProblems), [draft, typeMap, serverProblems]);
  const viewNodes = useMemo(
    () =>
      nodes.map((n) => ({
        ...n,
        ariaLabel: `Task ${n.data.task.id}, type ${n.data.task.type}`,
        data: { ...n.data, problems: problems.byNode[n.id] ?? [] },
      })),
    [nodes, problems],
  );

  const snapshot = useCallback(() => {
    history.current.push(current.current);
    if (history.current.length > 200) history.current.shift();
  }, []);

  const edited = useCallback(() => {
    setServerProblems(null);
    setBanner(null);
  }, []);

  const undo = useCallback(() => {
    const last = history.current.pop();
    if (!last) return;
    setNodes(last.nodes);
    setEdges(last.edges);
    setMeta(last.meta);
    edited();
  }, [edited]);

  useEffect(() => {
    if (!active) return;
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing = target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z" && !typing) {
        e.preventDefault();
        undo();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, undo]);

  const onNodesChange = useCallback(
    (changes: NodeChange<TaskFlowNode>[]) => {
      if (changes.some((c) => c.type === "remove")) {
        snapshot();
        edited();
      }
      setNodes((ns) => applyNodeChanges(changes, ns));
    },
    [snapshot, edited],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      if (changes.some((c) => c.type === "remove")) {
        snapshot();
        edited();
      }
      setEdges((es) => applyEdgeChanges(changes, es));
    },
    [snapshot, edited],
  );

  const onConnect = useCallback(
    (connection: Connection) => {
      snapshot();
      edited();
      setEdges((es) => addEdge({ ...connection, ...EDGE_DEFAULTS }, es));
    },
    [snapshot, edited],
  );

  const isValidConnection = useCallback(
    (c: Connection | Edge) => c.source !== c.target && !edges.some((e) => e.source === c.source && e.target === c.target),
    [edges],
  );

  const addTask = useCallback(
    (typeName: string, at?: { x: number; y: number }) => {
      snapshot();
      edited();
      let position = at;
      if (!position) {
        const box = canvas.current?.getBoundingClientRect();
        const center = flow.screenToFlowPosition({
          x: (box?.left ?? 0) + (box?.width ?? 600) / 2,
          y: (box?.top ?? 0) + (box?.height ?? 400) / 3,
        });
        position = { x: center.x - NODE_WIDTH / 2 + (nodes.length % 5) * 24, y: center.y + (nodes.length % 5) * 24 };
      }
      const key = `k${nextKey.current++}`;
      const id = nextTaskId(typeName, nodes.map((n) => n.data.task.id));
      const task = newTask(id, typeMap?.get(typeName), typeName);
      setNodes((ns) => [
        ...ns.map((n) => ({ ...n, selected: false })),
        { id: key, type: "task", position, selected: true, data: { task, problems: [] } },
      ]);
    },
    [snapshot, edited, flow, nodes, typeMap],
  );

  const onDrop = useCallback(
    (e: DragEvent) => {
      e.preventDefault();
      const typeName = e.dataTransfer.getData(DRAG_TYPE);
      if (!typeName) return;
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      addTask(typeName, { x: p.x - NODE_WIDTH / 2, y: p.y - 20 });
    },
    [flow, addTask],
  );

  const updateTask = useCallback(
    (key: string, patch: Partial<TaskDraft>) => {
      edited();
      setNodes((ns) => ns.map((n) => (n.id === key ? { ...n, data: { ...n.data, task: { ...n.data.task, ...patch } } } : n)));
    },
    [edited],
  );

  const deleteTask = useCallback(
    (key: string) => {
      snapshot();
      edited();
      setNodes((ns) => ns.filter((n) => n.id !== key));
      setEdges((es) => es.filter((e) => e.source !== key && e.target !== key));
    },
    [snapshot, edited],
  );

  const loadDraft = useCallback(
    (loaded: Draft) => {
      snapshot();
      edited();
      const positions = layoutPositions(loaded.nodes.map((n) => n.key), loaded.edges);
      setMeta({ displayName: loaded.displayName, labels: loaded.labels, failurePolicy: loaded.failurePolicy });
      setNodes(loaded.nodes.map((n) => ({ id: n.key, type: "task", position: positions.get(n.key)!, data: { task: n.task, problems: [] } })));
      setEdges(loaded.edges.map((e) => ({ id: `e-${e.source}-${e.target}`, ...e, ...EDGE_DEFAULTS })));
      window.setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1.2 }), 50);
    },
    [snapshot, edited, flow],
  );

  const tidy = useCallback(() => {
    snapshot();
    const positions = layoutPositions(nodes.map((n) => n.id), edges);
    setNodes((ns) => ns.map((n) => ({ ...n, position: positions.get(n.id) ?? n.position })));
    window.setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1.2 }), 50);
  }, [snapshot, nodes, edges, flow]);

  const showServerErrors = useCallback(
    (violations: FieldViolation[]) => {
      setServerProblems(violationsToProblems(violations, draft));
    },
    [draft],
  );

  const refuse = (): boolean => {
    const count = problemCount(problems);
    if (count === 0) return false;
    const first = problems.global[0] ?? Object.values(problems.byNode)[0]?.[0] ?? "";
    setBanner({ error: true, text: `Cannot deploy: ${count} problem${count > 1 ? "s" : ""} to fix (${first}).` });
    return true;
  };

  const deploy = async () => {
    if (refuse()) return;
    setDeploying(true);
    try {
      const res = await workflowClient.createWorkflow(createRequest(toWorkflowJson(draft)));
      setBanner({ error: false, text: `Deployed workflow ${res.workflow?.id}.` });
      onDeployed(res.workflow!.id);
    } catch (err) {
      const violations = fieldViolations(err);
      if (violations.length) showServerErrors(violations);
      setBanner({ error: true, text: `The server refused the workflow: ${errorText(err)}` });
    } finally {
      setDeploying(false);
    }
  };

  const selected = nodes.find((n) => n.selected) ?? null;
  const count = problemCount(problems);

  return (
    <div className="composer">
      <aside className="palette" aria-label="Task types">
        <h2>Task types</h2>
        {typesError && <p className="status error" role="alert">{typesError}</p>}
        {types === null && !typesError && <p className="muted">Loading task types…</p>}
        <ul>
          {(types ?? []).map((t) => (
            <li key={t.name}>
              <button type="button" className="palette-item" draggable data-type={t.name} title={t.description}
                aria-label={`Add task type ${t.name}`}
                onDragStart={(e) => {
                  e.dataTransfer.setData(DRAG_TYPE, t.name);
                  e.dataTransfer.effectAllowed = "move";
                }}
                onClick={() => addTask(t.name)}>
                <strong>{t.name}</strong>
                <small>{t.instanceGroups.join(", ") || "no live group"} · {t.participantCount} participant{t.participantCount === 1 ? "" : "s"}</small>
              </button>
            </li>
          ))}
        </ul>
        <TemplatesPanel current={template} workflow={() => toWorkflowJson(draft)} canSave={() => problemCount(problems) === 0}
          onLoad={(t, wf) => {
            loadDraft(fromWorkflowJson(wf));
            setTemplate(t);
          }}
          onSaved={setTemplate} onServerErrors={showServerErrors} />
      </aside>
      <main className="canvas-column">
        <div className="toolbar" role="toolbar" aria-label="Composer actions">
          <button type="button" className="primary" onClick={() => void deploy()} disabled={deploying}>
            {deploying ? "Deploying…" : "Deploy"}
          </button>
          <span className={count ? "problem-count bad" : "problem-count"} aria-live="polite">
            {nodes.length} task{nodes.length === 1 ? "" : "s"} · {count ? `${count} problem${count > 1 ? "s" : ""}` : "no problems"}
          </span>
          <button type="button" onClick={undo} disabled={history.current.length === 0} aria-label="Undo (Ctrl+Z)">Undo</button>
          <button type="button" onClick={tidy} disabled={!nodes.length}>Auto-layout</button>
          <ImportExport workflow={() => toWorkflowJson(draft)} onImport={(d) => { loadDraft(d); setTemplate(null); }} />
          <button type="button" onClick={() => { snapshot(); setNodes([]); setEdges([]); setTemplate(null); edited(); }}
            disabled={!nodes.length}>Clear</button>
        </div>
        {banner && (
          <div className={banner.error ? "banner error" : "banner"} role={banner.error ? "alert" : "status"}>
            {banner.text}
            <button type="button" className="link" aria-label="Dismiss message" onClick={() => setBanner(null)}>×</button>
          </div>
        )}
        <div className="canvas" ref={canvas} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }}
          onDrop={onDrop} aria-label="Workflow canvas">
          <ReactFlow nodes={viewNodes} edges={edges} nodeTypes={nodeTypes} onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange} onConnect={onConnect} isValidConnection={isValidConnection}
            deleteKeyCode={active ? ["Delete", "Backspace"] : null} defaultViewport={{ x: 0, y: 0, zoom: 1 }}
            defaultEdgeOptions={EDGE_DEFAULTS} proOptions={{ hideAttribution: true }}>
            <Background />
            <Controls />
          </ReactFlow>
          {nodes.length === 0 && <div className="empty-hint">Drag task types here</div>}
        </div>
      </main>
      <Inspector task={selected?.data.task ?? null} taskKey={selected?.id ?? null}
        type={selected ? typeMap?.get(selected.data.task.type) : undefined}
        problems={selected ? (problems.byNode[selected.id] ?? []) : []} meta={meta}
        globalProblems={problems.global} onTask={updateTask}
        onMeta={(m) => { edited(); setMeta(m); }} onEditStart={snapshot} onDelete={deleteTask} />
    </div>
  );
}
