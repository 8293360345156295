import { describe, expect, it } from "vitest";

import type { LiveTask, LiveWorkflow } from "./api";
import { applyWatch } from "./live";

const task = (id: string, state: string, extra: Partial<LiveTask> = {}): LiveTask =>
  ({ id, type: "noop", state, ...extra }) as LiveTask;

const tasksOf = (w: LiveWorkflow | null): LiveTask[] => (w?.tasks ?? []) as LiveTask[];

const snapshot = {
  id: "w1",
  displayName: "hello",
  state: "WORKFLOW_STATE_RUNNING",
  taskCounts: { TASK_STATE_PENDING: 2 },
  tasks: [task("a", "TASK_STATE_PENDING"), task("b", "TASK_STATE_PENDING")],
  taskCount: 2,
} as unknown as unknown as LiveWorkflow;

describe("applyWatch", () => {
  it("takes a snapshot whole", () => {
    const next = applyWatch(null, { workflow: snapshot, snapshot: true });
    expect(next?.tasks.map((t) => t.id)).toEqual(["a", "b"]);
    expect(next?.displayName).toBe("hello");
  });

  it("replaces only the changed tasks and takes the header", () => {
    const first = applyWatch(null, { workflow: snapshot, snapshot: true });
    const header = { id: "w1", state: "WORKFLOW_STATE_RUNNING", taskCounts: { TASK_STATE_RUNNING: 1, TASK_STATE_PENDING: 1 } } as unknown as LiveWorkflow;
    const next = applyWatch(first, { workflow: header, changedTasks: [task("b", "TASK_STATE_RUNNING", { attempt: 1 })] });
    expect(tasksOf(next).map((t) => [t.id, t.state])).toEqual([
      ["a", "TASK_STATE_PENDING"],
      ["b", "TASK_STATE_RUNNING"],
    ]);
    expect(next?.tasks[0]).toBe(first?.tasks[0]);
    expect(next?.taskCounts).toEqual({ TASK_STATE_RUNNING: 1, TASK_STATE_PENDING: 1 });
    expect(next?.displayName).toBe("hello");
  });

  it("ignores a change to a task the snapshot did not inline", () => {
    const first = applyWatch(null, { workflow: { ...snapshot, tasksTruncated: true } as unknown as LiveWorkflow, snapshot: true });
    const next = applyWatch(first, { workflow: { id: "w1" } as unknown as LiveWorkflow, changedTasks: [task("z", "TASK_STATE_COMPLETED")] });
    expect(next?.tasks.map((t) => t.id)).toEqual(["a", "b"]);
    expect(next?.tasksTruncated).toBe(true);
  });

  it("starts again from a new snapshot after a reconnect", () => {
    const first = applyWatch(null, { workflow: snapshot, snapshot: true });
    const again = applyWatch(first, {
      workflow: { ...snapshot, state: "WORKFLOW_STATE_COMPLETED", tasks: [task("a", "TASK_STATE_COMPLETED"), task("b", "TASK_STATE_COMPLETED")] } as unknown as LiveWorkflow,
      snapshot: true,
    });
    expect(tasksOf(again).every((t) => t.state === "TASK_STATE_COMPLETED")).toBe(true);
    expect(again?.state).toBe("WORKFLOW_STATE_COMPLETED");
  });
});
