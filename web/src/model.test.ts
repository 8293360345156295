import { describe, expect, it } from "vitest";

import {
  checkParams,
  fromWorkflowJson,
  nextTaskId,
  parseLabels,
  problemCount,
  type TaskTypeInfo,
  toWorkflowJson,
  validateDraft,
  violationsToProblems,
} from "./model";

// The design's example workflow (the wire contract).
const DESIGN = {
  requestId: "b0c1",
  workflow: {
    displayName: "hello",
    labels: { team: "chem" },
    failurePolicy: "FAILURE_POLICY_FAIL_FAST",
    tasks: [
      { id: "a", type: "noop" },
      {
        id: "b",
        type: "shell",
        instanceGroup: "default",
        dependsOn: ["a"],
        params: { command: "exit 3", fatal_exit_codes: [3] },
        retry: { maxAttempts: 3, initialBackoff: "0.2s" },
        timeout: "30s",
      },
    ],
  },
};

const TYPE_LIST: TaskTypeInfo[] = [
    { name: "noop", description: "", paramsSchema: { type: "object" }, instanceGroups: ["default"], participantCount: 2 },
    {
      name: "sleep",
      description: "",
      paramsSchema: { type: "object", properties: { seconds: { type: "number", minimum: 0 } }, required: ["seconds"] },
      instanceGroups: ["default"],
      participantCount: 2,
    },
    {
      name: "shell",
      description: "",
      paramsSchema: {
        type: "object",
        properties: { command: { type: "string" }, fatal_exit_codes: { type: "array", items: { type: "integer" } } },
        required: ["command"],
      },
      instanceGroups: ["default"],
      participantCount: 2,
    },
];
const TYPES = new Map(TYPE_LIST.map((t) => [t.name, t]));

describe("graph <-> workflow JSON", () => {
  it("round-trips the design's example exactly", () => {
    const draft = fromWorkflowJson(DESIGN);
    expect(draft.nodes.map((n) => n.task.id)).toEqual(["a", "b"]);
    expect(draft.edges).toEqual([{ source: "n1", target: "n2" }]);
    expect(toWorkflowJson(draft)).toEqual(DESIGN.workflow);
  });

  it("accepts a bare workflow and keeps unknown dependencies visible", () => {
    const draft = fromWorkflowJson({ tasks: [{ id: "x", type: "noop", dependsOn: ["ghost"] }] });
    expect(draft.nodes[0].task.danglingDeps).toEqual(["ghost"]);
    expect(toWorkflowJson(draft).tasks[0].dependsOn).toEqual(["ghost"]);
    const problems = validateDraft(draft, TYPES);
    expect(problems.byNode.n1).toContain("depends on: unknown dependency 'ghost'");
  });

  it("refuses JSON that is not a workflow", () => {
    expect(() => fromWorkflowJson({ nope: 1 })).toThrow(/tasks/);
    expect(() => fromWorkflowJson({ tasks: [3] })).toThrow(/tasks\[0\]/);
  });

  it("derives dependsOn from edges after a rename", () => {
    const draft = fromWorkflowJson(DESIGN);
    draft.nodes[0].task.id = "first";
    expect(toWorkflowJson(draft).tasks[1].dependsOn).toEqual(["first"]);
  });
});

describe("validation before deploy", () => {
  it("accepts the design's example", () => {
    expect(problemCount(validateDraft(fromWorkflowJson(DESIGN), TYPES))).toBe(0);
  });

  it("names a cycle on every task in it", () => {
    const draft = fromWorkflowJson({
      tasks: [
        { id: "a", type: "noop", dependsOn: ["c"] },
        { id: "b", type: "noop", dependsOn: ["a"] },
        { id: "c", type: "noop", dependsOn: ["b"] },
        { id: "d", type: "noop" },
      ],
    });
    const problems = validateDraft(draft, TYPES);
    expect(Object.keys(problems.byNode).sort()).toEqual(["n1", "n2", "n3"]);
    expect(problems.byNode.n1[0]).toMatch(/^cycle /);
  });

  it("reports missing required params, wrong types and minimums", () => {
    const draft = fromWorkflowJson({
      tasks: [
        { id: "s", type: "shell" },
        { id: "z", type: "sleep", params: { seconds: -1 } },
        { id: "w", type: "sleep", params: { seconds: "soon" } },
      ],
    });
    const problems = validateDraft(draft, TYPES);
    expect(problems.byNode.n1).toEqual(["params: 'command' is a required property"]);
    expect(problems.byNode.n2).toEqual(["params.seconds: -1 is less than the minimum of 0"]);
    expect(problems.byNode.n3).toEqual(["params.seconds: \"soon\" is not of type 'number'"]);
  });

  it("reports unknown types, bad and duplicate ids, empty workflows", () => {
    const draft = fromWorkflowJson({
      tasks: [
        { id: "a", type: "teleport" },
        { id: "a", type: "noop" },
        { id: "Bad Id", type: "noop" },
      ],
    });
    const problems = validateDraft(draft, TYPES);
    expect(problems.byNode.n1).toEqual(["type: unknown task type 'teleport'"]);
    expect(problems.byNode.n2).toEqual(["id: duplicate id 'a'"]);
    expect(problems.byNode.n3[0]).toMatch(/^id: must be/);
    expect(validateDraft(fromWorkflowJson({ tasks: [] }), TYPES).global).toHaveLength(1);
  });

  it("skips type checks while the task types are unknown", () => {
    const draft = fromWorkflowJson({ tasks: [{ id: "a", type: "teleport" }] });
    expect(problemCount(validateDraft(draft, null))).toBe(0);
  });

  it("refuses unexpected params and empty strings", () => {
    const schema = { type: "object", properties: { command: { type: "string", minLength: 1 } }, additionalProperties: false };
    expect(checkParams({ command: "", colour: "red" }, schema)).toEqual([
      'params.command: "" should be non-empty',
      "params: Additional properties are not allowed ('colour' was unexpected)",
    ]);
  });

  it("checks array items", () => {
    expect(checkParams({ command: "x", fatal_exit_codes: [1, "2"] }, TYPES.get("shell")!.paramsSchema)).toEqual([
      "params.fatal_exit_codes[1]: \"2\" is not of type 'integer'",
    ]);
  });
});

describe("server errors on nodes", () => {
  it("puts workflow.tasks[i] violations on the i-th node and keeps the rest global", () => {
    const draft = fromWorkflowJson(DESIGN);
    const problems = violationsToProblems(
      [
        { field: "workflow.tasks[1].params.command", description: "is not of type 'string'" },
        { field: "template.workflow.tasks[0].type", description: "unknown task type" },
        { field: "workflow.labels[Bad]", description: "is not a valid label key" },
      ],
      draft,
    );
    expect(problems.byNode.n2).toEqual(["params.command: is not of type 'string'"]);
    expect(problems.byNode.n1).toEqual(["type: unknown task type"]);
    expect(problems.global).toEqual(["workflow.labels[Bad]: is not a valid label key"]);
  });
});

describe("helpers", () => {
  it("makes unused ids from the type name", () => {
    expect(nextTaskId("shell", [])).toBe("shell");
    expect(nextTaskId("shell", ["shell", "shell-2"])).toBe("shell-3");
  });
  it("parses labels", () => {
    expect(parseLabels("team=chem, site = a=b,")).toEqual({ team: "chem", site: "a=b" });
  });
});
