// A task on the canvas: id, type, group; problems in the composer, state and attempts live.
import { Handle, type Node, type NodeProps, Position } from "@xyflow/react";

import type { LiveTask } from "./api";
import type { TaskDraft } from "./model";

export interface TaskNodeData extends Record<string, unknown> {
  task: TaskDraft;
  problems: string[];
  live?: LiveTask;
}

export type TaskFlowNode = Node<TaskNodeData, "task">;

export function shortState(state: string | undefined): string {
  return (state ?? "TASK_STATE_PENDING").replace(/^(TASK|WORKFLOW)_STATE_/, "");
}

export function TaskNode({ data, selected }: NodeProps<TaskFlowNode>) {
  const { task, problems, live } = data;
  const state = live ? shortState(live.state) : undefined;
  const classes = ["task-node"];
  if (selected) classes.push("selected");
  if (problems.length) classes.push("has-problems");
  if (state) classes.push(`state-${state.toLowerCase()}`);
  return (
    <div className={classes.join(" ")} data-task-id={task.id} data-state={state}>
      <Handle type="target" position={Position.Top} aria-label={`dependencies of ${task.id}`} />
      <div className="task-node-title">{task.id || "(no id)"}</div>
      <div className="task-node-sub">
        {task.type}
        {task.instanceGroup && task.instanceGroup !== "default" ? ` · ${task.instanceGroup}` : ""}
      </div>
      {state && (
        <div className="task-node-state">
          <span className="state-text">{state}</span>
          {live?.attempt ? <span className="attempts"> · attempt {live.attempt}</span> : null}
        </div>
      )}
      {problems.length > 0 && (
        <div className="task-node-problem" role="alert" title={problems.join("\n")}>
          ⚠ {problems[0]}
          {problems.length > 1 ? ` (+${problems.length - 1})` : ""}
        </div>
      )}
      <Handle type="source" position={Position.Bottom} aria-label={`dependents of ${task.id}`} />
    </div>
  );
}

export const nodeTypes = { task: TaskNode };
