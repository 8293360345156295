// The composer's pure model: a drawing (nodes + dependency edges) <-> the wire contract's
// workflow JSON, and the checks the api makes at CreateWorkflow, run before deploying. No React,
// no network: unit-tested by model.test.ts.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The subset of JSON schema (draft 2020-12) the composer renders and checks. */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  enum?: JsonValue[];
  default?: JsonValue;
  additionalProperties?: boolean | JsonSchema;
}

/** A task type as TaskTypeService lists it (proto3 JSON names). */
export interface TaskTypeInfo {
  name: string;
  description: string;
  paramsSchema: JsonSchema;
  instanceGroups: string[];
  participantCount: number;
}

export interface RetryDraft {
  maxAttempts?: number;
  initialBackoff?: string;
}

/** One task being drawn. `danglingDeps` keeps dependencies on ids no node has (from imports). */
export interface TaskDraft {
  id: string;
  type: string;
  instanceGroup: string;
  params: Record<string, JsonValue>;
  retry: RetryDraft;
  timeout: string;
  danglingDeps: string[];
}

export interface GraphNode {
  key: string; // stable key of the node on the canvas (the task id can be renamed)
  task: TaskDraft;
  position: { x: number; y: number };
}

/** `target` depends on `source` (the arrow points from a dependency to its dependent). */
export interface GraphEdge {
  source: string;
  target: string;
}

export interface Draft {
  displayName: string;
  labels: Record<string, string>;
  failurePolicy: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The wire contract's task and workflow (proto3 JSON). */
export interface TaskJson {
  id: string;
  type: string;
  instanceGroup?: string;
  dependsOn?: string[];
  params?: Record<string, JsonValue>;
  retry?: RetryDraft & { multiplier?: number; maxBackoff?: string };
  timeout?: string;
}

export interface WorkflowJson {
  displayName?: string;
  labels?: Record<string, string>;
  failurePolicy?: string;
  tasks: TaskJson[];
}

export interface Problems {
  byNode: Record<string, string[]>;
  global: string[];
}

export interface FieldViolation {
  field: string;
  description: string;
}

export const TASK_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const DURATION = /^\d+(\.\d+)?s$/;

export function emptyDraft(): Draft {
  return { displayName: "", labels: {}, failurePolicy: "FAILURE_POLICY_FAIL_FAST", nodes: [], edges: [] };
}

export function newTask(id: string, type: TaskTypeInfo | undefined, typeName: string): TaskDraft {
  const params: Record<string, JsonValue> = {};
  for (const [name, prop] of Object.entries(type?.paramsSchema.properties ?? {})) {
    if (prop.default !== undefined) params[name] = prop.default;
  }
  const group = type?.instanceGroups.includes("default") ? "default" : (type?.instanceGroups[0] ?? "default");
  return { id, type: typeName, instanceGroup: group, params, retry: {}, timeout: "", danglingDeps: [] };
}

/** A task id not used yet: the type's name, then name-2, name-3, ... */
export function nextTaskId(typeName: string, used: Iterable<string>): string {
  const taken = new Set(used);
  const base = typeName.toLowerCase().replace(/[^a-z0-9_-]/g, "-").replace(/^[^a-z0-9]+/, "") || "task";
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

// --- drawing <-> workflow JSON ------------------------------------------------------------------

export function toWorkflowJson(draft: Draft): WorkflowJson {
  const idOf = new Map(draft.nodes.map((n) => [n.key, n.task.id]));
  const tasks = draft.nodes.map((node): TaskJson => {
    const t = node.task;
    const deps = draft.edges.filter((e) => e.target === node.key).map((e) => idOf.get(e.source) ?? "");
    const out: TaskJson = { id: t.id, type: t.type };
    if (t.instanceGroup) out.instanceGroup = t.instanceGroup;
    const dependsOn = [...deps, ...t.danglingDeps];
    if (dependsOn.length) out.dependsOn = dependsOn;
    if (Object.keys(t.params).length) out.params = t.params;
    const retry: RetryDraft = {};
    if (t.retry.maxAttempts) retry.maxAttempts = t.retry.maxAttempts;
    if (t.retry.initialBackoff) retry.initialBackoff = t.retry.initialBackoff;
    if (Object.keys(retry).length) out.retry = retry;
    if (t.timeout) out.timeout = t.timeout;
    return out;
  });
  const out: WorkflowJson = { tasks };
  if (draft.displayName) out.displayName = draft.displayName;
  if (Object.keys(draft.labels).length) out.labels = draft.labels;
  if (draft.failurePolicy) out.failurePolicy = draft.failurePolicy;
  return out;
}

export class ImportError extends Error {}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A drawing from workflow JSON: `{"workflow": {...}}` (a CreateWorkflowRequest) or the bare
 * workflow. Positions are left at 0 (lay the graph out afterwards). */
export function fromWorkflowJson(input: unknown): Draft {
  const wf = isObject(input) && isObject(input.workflow) ? input.workflow : input;
  if (!isObject(wf) || !Array.isArray(wf.tasks)) {
    throw new ImportError('expected {"workflow": {"tasks": [...]}} or a workflow with "tasks"');
  }
  const draft = emptyDraft();
  draft.displayName = typeof wf.displayName === "string" ? wf.displayName : "";
  if (isObject(wf.labels)) {
    draft.labels = Object.fromEntries(Object.entries(wf.labels).map(([k, v]) => [k, String(v)]));
  }
  if (typeof wf.failurePolicy === "string") draft.failurePolicy = wf.failurePolicy;
  const keyOf = new Map<string, string>();
  wf.tasks.forEach((raw: unknown, index: number) => {
    if (!isObject(raw)) throw new ImportError(`tasks[${index}] is not an object`);
    const key = `n${index + 1}`;
    const retry = isObject(raw.retry) ? raw.retry : {};
    const task: TaskDraft = {
      id: String(raw.id ?? ""),
      type: String(raw.type ?? ""),
      instanceGroup: typeof raw.instanceGroup === "string" ? raw.instanceGroup : "",
      params: isObject(raw.params) ? (raw.params as Record<string, JsonValue>) : {},
      retry: {
        ...(typeof retry.maxAttempts === "number" ? { maxAttempts: retry.maxAttempts } : {}),
        ...(typeof retry.initialBackoff === "string" ? { initialBackoff: retry.initialBackoff } : {}),
      },
      timeout: typeof raw.timeout === "string" ? raw.timeout : "",
      danglingDeps: [],
    };
    if (!keyOf.has(task.id)) keyOf.set(task.id, key);
    draft.nodes.push({ key, task, position: { x: 0, y: 0 } });
  });
  wf.tasks.forEach((raw: unknown, index: number) => {
    const node = draft.nodes[index];
    const deps = isObject(raw) && Array.isArray(raw.dependsOn) ? raw.dependsOn.map(String) : [];
    for (const dep of deps) {
      const source = keyOf.get(dep);
      if (source === undefined) node.task.danglingDeps.push(dep);
      else draft.edges.push({ source, target: node.key });
    }
  });
  return draft;
}

// --- checks (the server's, in the same words where they matter) ---------------------------------

function typeMatches(value: JsonValue, type: string): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return isObject(value);
    case "null":
      return value === null;
    default:
      return true;
  }
}

/** Problems of `params` against `schema`, worded like python-jsonschema's messages. */
export function checkParams(params: Record<string, JsonValue>, schema: JsonSchema, path = "params"): string[] {
  const out: string[] = [];
  for (const name of schema.required ?? []) {
    if (params[name] === undefined) out.push(`${path}: '${name}' is a required property`);
  }
  for (const [name, value] of Object.entries(params)) {
    const prop = schema.properties?.[name];
    if (prop) out.push(...checkValue(value, prop, `${path}.${name}`));
    else if (schema.additionalProperties === false) {
      out.push(`${path}: Additional properties are not allowed ('${name}' was unexpected)`);
    } else if (isObject(schema.additionalProperties)) {
      out.push(...checkValue(value, schema.additionalProperties, `${path}.${name}`));
    }
  }
  return out;
}

function checkValue(value: JsonValue, schema: JsonSchema, path: string): string[] {
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.length && !types.some((t) => typeMatches(value, t))) {
    return [`${path}: ${JSON.stringify(value)} is not of type ${types.map((t) => `'${t}'`).join(", ")}`];
  }
  const out: string[] = [];
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      out.push(`${path}: ${value} is less than the minimum of ${schema.minimum}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      out.push(`${path}: ${value} is greater than the maximum of ${schema.maximum}`);
    }
  }
  if (typeof value === "string" && schema.minLength !== undefined && value.length < schema.minLength) {
    out.push(`${path}: ${JSON.stringify(value)} ${schema.minLength === 1 ? "should be non-empty" : "is too short"}`);
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    out.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => out.push(...checkValue(item, schema.items as JsonSchema, `${path}[${i}]`)));
  }
  if (isObject(value) && schema.properties) {
    out.push(...checkParams(value as Record<string, JsonValue>, schema, path));
  }
  return out;
}

/** One dependency cycle as node keys (first == last), or null. */
export function findCycle(draft: Draft): string[] | null {
  const deps = new Map<string, string[]>(draft.nodes.map((n) => [n.key, []]));
  for (const e of draft.edges) deps.get(e.target)?.push(e.source);
  const state = new Map<string, number>(); // 1 on the path, 2 done
  const path: string[] = [];
  const visit = (key: string): string[] | null => {
    state.set(key, 1);
    path.push(key);
    for (const dep of deps.get(key) ?? []) {
      if (state.get(dep) === 1) return [...path.slice(path.indexOf(dep)), dep];
      if (!state.has(dep)) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    path.pop();
    state.set(key, 2);
    return null;
  };
  for (const node of draft.nodes) {
    if (!state.has(node.key)) {
      const found = visit(node.key);
      if (found) return found;
    }
  }
  return null;
}

function addProblem(problems: Problems, key: string, text: string): void {
  (problems.byNode[key] ??= []).push(text);
}

/** Everything CreateWorkflow would refuse that the composer can see. `types`: the live task
 * types (null while they are not loaded: type and params checks are skipped). */
export function validateDraft(draft: Draft, types: Map<string, TaskTypeInfo> | null): Problems {
  const problems: Problems = { byNode: {}, global: [] };
  if (!draft.nodes.length) problems.global.push("a workflow needs at least one task");
  const seen = new Map<string, string>();
  for (const node of draft.nodes) {
    const t = node.task;
    if (!TASK_ID.test(t.id)) {
      addProblem(problems, node.key, "id: must be 1-63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit");
    } else if (seen.has(t.id)) {
      addProblem(problems, node.key, `id: duplicate id '${t.id}'`);
    } else {
      seen.set(t.id, node.key);
    }
    if (t.instanceGroup && !TASK_ID.test(t.instanceGroup)) {
      addProblem(problems, node.key, "instance group: is not a valid group name");
    }
    for (const dep of t.danglingDeps) addProblem(problems, node.key, `depends on: unknown dependency '${dep}'`);
    if (t.timeout && !DURATION.test(t.timeout)) addProblem(problems, node.key, "timeout: use seconds, e.g. 30s");
    if (t.retry.initialBackoff && !DURATION.test(t.retry.initialBackoff)) {
      addProblem(problems, node.key, "retry backoff: use seconds, e.g. 0.5s");
    }
    const attempts = t.retry.maxAttempts;
    if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 0 || attempts > 100)) {
      addProblem(problems, node.key, "retry attempts: must be 0..100");
    }
    if (types) {
      const type = types.get(t.type);
      if (!type) {
        addProblem(problems, node.key, `type: unknown task type '${t.type}'`);
      } else {
        for (const text of checkParams(t.params, type.paramsSchema)) addProblem(problems, node.key, text);
      }
    }
  }
  for (const e of draft.edges) {
    if (e.source === e.target) {
      const node = draft.nodes.find((n) => n.key === e.source);
      addProblem(problems, e.source, `depends on: task '${node?.task.id}' depends on itself`);
    }
  }
  const cycle = findCycle(draft);
  if (cycle && cycle.length > 2) {
    const idOf = new Map(draft.nodes.map((n) => [n.key, n.task.id]));
    const text = "cycle " + cycle.map((k) => idOf.get(k)).join(" -> ");
    for (const key of new Set(cycle)) addProblem(problems, key, text);
  }
  return problems;
}

export function problemCount(problems: Problems): number {
  return problems.global.length + Object.values(problems.byNode).reduce((n, list) => n + list.length, 0);
}

const TASK_FIELD = /(?:^|\.)workflow\.tasks\[(\d+)\](?:\.(.*))?$/;

/** The server's field violations, put on the nodes they name (tasks[i] is the i-th node, the
 * order toWorkflowJson sends). */
export function violationsToProblems(violations: FieldViolation[], draft: Draft): Problems {
  const problems: Problems = { byNode: {}, global: [] };
  for (const v of violations) {
    const match = TASK_FIELD.exec(v.field);
    const node = match ? draft.nodes[Number(match[1])] : undefined;
    if (node) {
      const where = match?.[2] ? match[2] : "task";
      addProblem(problems, node.key, `${where}: ${v.description}`);
    } else {
      problems.global.push(`${v.field}: ${v.description}`);
    }
  }
  return problems;
}

/** Labels typed as "team=chem, site=x". */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const [key, ...rest] = part.split("=");
    if (key.trim()) out[key.trim()] = rest.join("=").trim();
  }
  return out;
}

export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}
