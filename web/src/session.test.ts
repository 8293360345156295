import { describe, expect, it } from "vitest";

import { signInMessage } from "./session";

describe("signInMessage", () => {
  it("says a refused key was refused", () => {
    expect(signInMessage(401, "the key was refused")).toMatch(/API key was refused/);
  });
  it("tells a malformed key and an unreachable api apart", () => {
    expect(signInMessage(400, "")).toBe("That is not an API key.");
    expect(signInMessage(503, "")).toMatch(/try again/);
  });
  it("shows the server's text for anything else", () => {
    expect(signInMessage(403, "a cookie-authenticated call needs Origin")).toBe(
      "Sign-in failed (403): a cookie-authenticated call needs Origin",
    );
  });
});
