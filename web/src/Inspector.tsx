// The right-hand panel: the selected task's fields (id, group, params, retry, timeout) or,
// with nothing selected, the workflow's name, labels and failure policy.
import { formatLabels, parseLabels, type TaskDraft, type TaskTypeInfo } from "./model";
import { ParamsForm } from "./ParamsForm";

export interface WorkflowMeta {
  displayName: string;
  labels: Record<string, string>;
  failurePolicy: string;
}

interface Props {
  task: TaskDraft | null;
  taskKey: string | null;
  type: TaskTypeInfo | undefined;
  problems: string[];
  meta: WorkflowMeta;
  globalProblems: string[];
  onTask: (key: string, patch: Partial<TaskDraft>) => void;
  onMeta: (meta: WorkflowMeta) => void;
  onEditStart: () => void;
  onDelete: (key: string) => void;
}

export function Inspector(props: Props) {
  const { task, taskKey, type, problems, meta, onTask, onMeta, onEditStart } = props;
  if (!task || !taskKey) {
    return (
      <aside className="inspector" aria-label="Workflow settings">
        <h2>Workflow</h2>
        <div className="field">
          <label htmlFor="wf-name">Display name</label>
          <input id="wf-name" value={meta.displayName} onFocus={onEditStart}
            onChange={(e) => onMeta({ ...meta, displayName: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="wf-labels">Labels</label>
          <input id="wf-labels" placeholder="team=chem, site=a" defaultValue={formatLabels(meta.labels)}
            key={formatLabels(meta.labels)} onFocus={onEditStart}
            onBlur={(e) => onMeta({ ...meta, labels: parseLabels(e.target.value) })} />
        </div>
        <div className="field">
          <label htmlFor="wf-policy">Failure policy</label>
          <select id="wf-policy" value={meta.failurePolicy} onFocus={onEditStart}
            onChange={(e) => onMeta({ ...meta, failurePolicy: e.target.value })}>
            <option value="FAILURE_POLICY_FAIL_FAST">Fail fast</option>
            <option value="FAILURE_POLICY_CONTINUE">Continue independent branches</option>
          </select>
        </div>
        {props.globalProblems.length > 0 && (
          <ul className="problems" aria-label="Workflow problems">
            {props.globalProblems.map((p) => <li key={p}>{p}</li>)}
          </ul>
        )}
        <p className="muted help">
          Drag a task type from the palette (or press Enter on it), connect a task's bottom handle to another's
          top handle to make the second depend on the first. Select a task to edit it; Delete removes it,
          Ctrl+Z undoes.
        </p>
      </aside>
    );
  }
  const set = (patch: Partial<TaskDraft>) => onTask(taskKey, patch);
  return (
    <aside className="inspector" aria-label={`Task ${task.id}`}>
      <h2>Task <code>{task.type}</code></h2>
      {type?.description ? <p className="muted">{type.description}</p> : null}
      {problems.length > 0 && (
        <ul className="problems" aria-label="Task problems" role="alert">
          {problems.map((p) => <li key={p}>{p}</li>)}
        </ul>
      )}
      <div className="field">
        <label htmlFor="task-id">Task id</label>
        <input id="task-id" value={task.id} onFocus={onEditStart} onChange={(e) => set({ id: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="task-group">Instance group</label>
        <input id="task-group" list="task-groups" value={task.instanceGroup} onFocus={onEditStart}
          onChange={(e) => set({ instanceGroup: e.target.value })} />
        <datalist id="task-groups">
          {(type?.instanceGroups ?? []).map((g) => <option key={g} value={g} />)}
        </datalist>
        {type && !type.instanceGroups.includes(task.instanceGroup || "default") ? (
          <small className="warning" role="status">
            No live participant of group “{task.instanceGroup || "default"}” serves {task.type} now; the task
            would wait until one registers.
          </small>
        ) : null}
      </div>
      {type ? (
        <ParamsForm schema={type.paramsSchema} params={task.params} onFocus={onEditStart}
          onChange={(params) => set({ params })} />
      ) : (
        <p className="muted">Task type {task.type} is not served by any live participant.</p>
      )}
      <fieldset>
        <legend>Retry and timeout</legend>
        <div className="field">
          <label htmlFor="task-attempts">Max attempts</label>
          <input id="task-attempts" type="number" min={0} max={100} placeholder="3"
            value={task.retry.maxAttempts ?? ""} onFocus={onEditStart}
            onChange={(e) => set({ retry: { ...task.retry, maxAttempts: e.target.value === "" ? undefined : Number(e.target.value) } })} />
        </div>
        <div className="field">
          <label htmlFor="task-backoff">Initial backoff</label>
          <input id="task-backoff" placeholder="1s" value={task.retry.initialBackoff ?? ""} onFocus={onEditStart}
            onChange={(e) => set({ retry: { ...task.retry, initialBackoff: e.target.value || undefined } })} />
        </div>
        <div className="field">
          <label htmlFor="task-timeout">Timeout</label>
          <input id="task-timeout" placeholder="none, e.g. 30s" value={task.timeout} onFocus={onEditStart}
            onChange={(e) => set({ timeout: e.target.value })} />
        </div>
      </fieldset>
      <button type="button" className="danger" onClick={() => props.onDelete(taskKey)}>Delete task</button>
    </aside>
  );
}
