// Connect clients of the api's public services, over the api's own HTTP port (JSON).
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";

import { TaskTypeService } from "./gen/helicase/v1/task_type_pb";
import { TemplateService, WorkflowTemplateSchema } from "./gen/helicase/v1/template_pb";
import { type Task, TaskSchema, type Workflow, WorkflowSchema } from "./gen/helicase/v1/workflow_pb";
import { CreateWorkflowRequestSchema, WorkflowService } from "./gen/helicase/v1/workflow_service_pb";
import type { FieldViolation, TaskTypeInfo, WorkflowJson } from "./model";
import { SIGNED_OUT_EVENT } from "./session";

function noticeSignedOut(err: unknown): void {
  if (err instanceof ConnectError && err.code === Code.Unauthenticated) {
    window.dispatchEvent(new Event(SIGNED_OUT_EVENT));
  }
}

async function* noticingSignedOut<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    noticeSignedOut(err);
    throw err;
  }
}

/** Calls carry the session cookie (same origin); an UNAUTHENTICATED answer, of a unary call or
 * at the end of a stream, means sign in again. */
const signedOutOnUnauthenticated: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    return res.stream ? { ...res, message: noticingSignedOut(res.message) } : res;
  } catch (err) {
    noticeSignedOut(err);
    throw err;
  }
};

const transport = createConnectTransport({
  baseUrl: window.location.origin,
  useBinaryFormat: false,
  interceptors: [signedOutOnUnauthenticated],
});

export const workflowClient = createClient(WorkflowService, transport);
export const taskTypeClient = createClient(TaskTypeService, transport);
export const templateClient = createClient(TemplateService, transport);

/** A workflow as the proto3 JSON of the wire contract (states are enum names, times RFC 3339). */
export type LiveWorkflow = WorkflowJson & {
  id: string;
  state?: string;
  message?: string;
  createTime?: string;
  startTime?: string;
  endTime?: string;
  taskCounts?: Record<string, number>;
  taskCount?: number;
  tasksTruncated?: boolean;
  nextTasksPageToken?: string;
  tasks: LiveTask[];
};

export interface LiveAttempt {
  attempt?: number;
  state?: string;
  participant?: string;
  message?: string;
  startTime?: string;
  endTime?: string;
}

export type LiveTask = WorkflowJson["tasks"][number] & {
  state?: string;
  attempt?: number;
  participant?: string;
  message?: string;
  startTime?: string;
  endTime?: string;
  outputs?: Record<string, JsonValue>;
  attempts?: LiveAttempt[];
};

export function workflowJson(workflow: Workflow): LiveWorkflow {
  return toJson(WorkflowSchema, workflow) as unknown as LiveWorkflow;
}

export function taskJson(task: Task): LiveTask {
  return toJson(TaskSchema, task) as unknown as LiveTask;
}

export function createRequest(workflow: WorkflowJson) {
  return fromJson(CreateWorkflowRequestSchema, {
    requestId: crypto.randomUUID(),
    workflow: workflow as unknown as JsonValue,
  });
}

export function templateMessage(fields: { id?: string; name: string; description: string; workflow: WorkflowJson }) {
  return fromJson(WorkflowTemplateSchema, fields as unknown as JsonValue);
}

export async function listTaskTypes(): Promise<TaskTypeInfo[]> {
  const res = await taskTypeClient.listTaskTypes({});
  return res.taskTypes.map((t) => ({
    name: t.name,
    description: t.description,
    paramsSchema: (t.paramsSchema ?? {}) as TaskTypeInfo["paramsSchema"],
    instanceGroups: t.instanceGroups,
    participantCount: t.participantCount,
  }));
}

/** The BadRequest field violations an error carries (the gateway adds them as readable JSON). */
export function fieldViolations(err: unknown): FieldViolation[] {
  if (!(err instanceof ConnectError)) return [];
  const out: FieldViolation[] = [];
  for (const detail of err.details) {
    if ("type" in detail && detail.type === "google.rpc.BadRequest") {
      const debug = detail.debug as { fieldViolations?: FieldViolation[] } | undefined;
      out.push(...(debug?.fieldViolations ?? []));
    }
  }
  return out;
}

export function errorText(err: unknown): string {
  if (err instanceof ConnectError) return err.rawMessage || err.message;
  return err instanceof Error ? err.message : String(err);
}
