// The live view's state from WatchWorkflow's messages (changes_only): a snapshot replaces the
// workflow; a later message brings the workflow's header (state, message, times, counts) and only
// the tasks that changed, each replacing the task of the same id. A task the snapshot did not
// inline (a workflow over the inline cap, see Workflow.tasksTruncated) is not drawn, so its
// changes only move the counts.
import type { LiveTask, LiveWorkflow } from "./api";

export interface WatchMessage {
  workflow?: LiveWorkflow;
  snapshot?: boolean;
  changedTasks?: LiveTask[];
}

export function applyWatch(current: LiveWorkflow | null, message: WatchMessage): LiveWorkflow | null {
  const header = message.workflow;
  if (!header) return current;
  if (message.snapshot || !current) return { ...header, tasks: header.tasks ?? [] };
  const changed = new Map((message.changedTasks ?? []).map((t) => [t.id, t]));
  const tasks = changed.size ? current.tasks.map((t) => changed.get(t.id) ?? t) : current.tasks;
  return {
    ...current,
    ...header,
    // proto3 JSON leaves out empty fields: a header without a message or an end time clears it.
    message: header.message,
    endTime: header.endTime,
    taskCounts: header.taskCounts ?? {},
    tasksTruncated: current.tasksTruncated,
    nextTasksPageToken: current.nextTasksPageToken,
    tasks,
  };
}
