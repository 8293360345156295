import { describe, expect, it } from "vitest";

import { layoutPositions, NODE_HEIGHT, NODE_WIDTH } from "./layout";

describe("dagre layout", () => {
  it("puts dependencies above their dependents and siblings side by side", () => {
    const pos = layoutPositions(["a", "b", "c", "d"], [
      { source: "a", target: "b" },
      { source: "a", target: "c" },
      { source: "b", target: "d" },
      { source: "c", target: "d" },
    ]);
    const [a, b, c, d] = ["a", "b", "c", "d"].map((k) => pos.get(k)!);
    expect(b.y).toBeGreaterThanOrEqual(a.y + NODE_HEIGHT);
    expect(d.y).toBeGreaterThanOrEqual(b.y + NODE_HEIGHT);
    expect(b.y).toBe(c.y);
    expect(Math.abs(b.x - c.x)).toBeGreaterThanOrEqual(NODE_WIDTH);
  });

  it("ignores self-loops and lays out disconnected tasks", () => {
    const pos = layoutPositions(["x", "y"], [{ source: "x", target: "x" }]);
    expect(pos.size).toBe(2);
  });
});
