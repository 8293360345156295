// Submits a workflow (the design's JSON shape) to a Helicase api over gRPC (Connect's gRPC
// transport for Node), follows it with WatchWorkflow until it ends, and prints the final
// workflow as JSON. Exit 0 once the workflow reached a terminal state, 1 on an error. The token
// (an API key or a JWT) comes from --token or $HELICASE_TOKEN.
//
//   HELICASE_TOKEN=hlc_... node_modules/.bin/tsx clients/ts/examples/submit.ts \
//     --api 127.0.0.1:50051 --file examples/hello.json
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { fromJson, toJsonString, type JsonValue } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { bearer, tokenFromEnv } from "../src/auth";
import { WorkflowState, WorkflowSchema, type Workflow } from "../src/gen/helicase/v1/workflow_pb";
import {
  CreateWorkflowRequestSchema,
  WorkflowService,
} from "../src/gen/helicase/v1/workflow_service_pb";

const TERMINAL = new Set([
  WorkflowState.COMPLETED,
  WorkflowState.FAILED,
  WorkflowState.CANCELED,
]);

function option(name: string, fallback?: string): string {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? process.argv[at + 1] : fallback;
  if (value === undefined) {
    throw new Error(`--${name} is required`);
  }
  return value;
}

async function main(): Promise<void> {
  const api = option("api", process.env.HELICASE_API_ADDR ?? "127.0.0.1:50051");
  const file = option("file");
  const withinMs = Number(option("within-ms", "120000"));
  const token = option("token", tokenFromEnv());

  const request = fromJson(
    CreateWorkflowRequestSchema,
    JSON.parse(readFileSync(file, "utf8")) as JsonValue,
  );
  if (!request.requestId) {
    request.requestId = randomUUID();
  }
  const transport = createGrpcTransport({ baseUrl: `http://${api}`, interceptors: [bearer(token)] });
  const client = createClient(WorkflowService, transport);
  const signal = AbortSignal.timeout(withinMs);

  const created = await client.createWorkflow(request, { signal });
  const id = created.workflow?.id ?? "";
  console.error("created", id);

  let last: Workflow | undefined;
  for await (const response of client.watchWorkflow({ id }, { signal })) {
    last = response.workflow;
    console.error("state", WorkflowState[last?.state ?? 0]);
    if (last && TERMINAL.has(last.state)) {
      break;
    }
  }
  if (!last || !TERMINAL.has(last.state)) {
    throw new Error(`workflow ${id} did not end`);
  }
  console.log(toJsonString(WorkflowSchema, last));
}

main().catch((err: unknown) => {
  console.error("error:", err instanceof Error ? err.message : err);
  process.exit(1);
});
