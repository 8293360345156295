// The sign-in page: one API key, checked by the api, which then keeps the session.
import { useState } from "react";

import { signIn } from "./session";

export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setBusy(true);
    try {
      const result = await signIn(key);
      if (result.ok) {
        setKey("");
        onSignedIn();
      } else {
        setError(result.message);
      }
    } catch (err) {
      setError(`Sign-in failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <form aria-label="Sign in" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <h1>Sign in to Helicase</h1>
        <div className="field">
          <label htmlFor="api-key">API key</label>
          <input id="api-key" type="password" autoComplete="off" spellCheck={false} required
            value={key} onChange={(e) => setKey(e.target.value)} placeholder="hlc_…" />
        </div>
        {error && <p className="status error" role="alert">{error}</p>}
        <button className="primary" type="submit" disabled={busy || !key.trim()}>Sign in</button>
        <p className="muted">The key is checked once; the browser then keeps only a session cookie.</p>
      </form>
    </main>
  );
}
