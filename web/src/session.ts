// The composer's sign-in: the api checks an API key once and keeps a session for it in an
// HttpOnly cookie (the key never stays in the page or in browser storage). Any call answered
// UNAUTHENTICATED (a revoked key, an ended session) sends the composer back to sign-in.

export const SIGNED_OUT_EVENT = "helicase:signed-out";

export type SignInResult = { ok: true } | { ok: false; message: string };

/** What a refused sign-in says to the user, from the HTTP status the api answered. */
export function signInMessage(status: number, serverText: string): string {
  if (status === 401) return "The API key was refused: it is unknown, expired or revoked.";
  if (status === 400) return "That is not an API key.";
  if (status === 503) return "The api cannot check the key right now; try again.";
  return `Sign-in failed (${status})${serverText ? `: ${serverText}` : ""}`;
}

async function serverMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { message?: string };
    return body.message ?? "";
  } catch {
    return "";
  }
}

export async function signIn(token: string): Promise<SignInResult> {
  const res = await fetch("/auth/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: token.trim() }),
  });
  if (res.ok) return { ok: true };
  return { ok: false, message: signInMessage(res.status, await serverMessage(res)) };
}

/** Whether the browser holds a live session (its key is checked by the next call). */
export async function hasSession(): Promise<boolean> {
  const res = await fetch("/auth/session", { method: "GET" });
  if (!res.ok) throw new Error(`GET /auth/session: ${res.status}`);
  return ((await res.json()) as { signedIn?: boolean }).signedIn === true;
}

export async function signOut(): Promise<void> {
  await fetch("/auth/session", { method: "DELETE" });
  window.dispatchEvent(new Event(SIGNED_OUT_EVENT));
}
