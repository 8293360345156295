// The composer's shell: sign-in, then a header and three pages (composer, workflows, one
// workflow live), routed by the URL path (the api serves index.html for every path).
import { useCallback, useEffect, useState } from "react";

import { errorText, listTaskTypes } from "./api";
import { Composer } from "./Composer";
import { LiveView } from "./LiveView";
import type { TaskTypeInfo } from "./model";
import { hasSession, SIGNED_OUT_EVENT, signOut } from "./session";
import { SignIn } from "./SignIn";
import { Workflows } from "./Workflows";

type Auth = "checking" | "signed-in" | "signed-out";

function useAuth(): [Auth, (auth: Auth) => void] {
  const [auth, setAuth] = useState<Auth>("checking");
  useEffect(() => {
    const onSignedOut = () => setAuth("signed-out");
    window.addEventListener(SIGNED_OUT_EVENT, onSignedOut);
    hasSession().then((yes) => setAuth(yes ? "signed-in" : "signed-out"), onSignedOut);
    return () => window.removeEventListener(SIGNED_OUT_EVENT, onSignedOut);
  }, []);
  return [auth, setAuth];
}

function usePath(): [string, (path: string) => void] {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = useCallback((to: string) => {
    window.history.pushState(null, "", to);
    setPath(to);
  }, []);
  return [path, navigate];
}

export function App() {
  const [auth, setAuth] = useAuth();
  if (auth === "checking") return <div className="app" aria-busy="true" />;
  if (auth === "signed-out") {
    return <div className="app"><SignIn onSignedIn={() => setAuth("signed-in")} /></div>;
  }
  return <SignedIn />;
}

function SignedIn() {
  const [path, navigate] = usePath();
  const [types, setTypes] = useState<TaskTypeInfo[] | null>(null);
  const [typesError, setTypesError] = useState<string | null>(null);

  const loadTypes = useCallback(async () => {
    try {
      setTypes(await listTaskTypes());
      setTypesError(null);
    } catch (err) {
      setTypesError(`Cannot load task types: ${errorText(err)}`);
    }
  }, []);

  useEffect(() => {
    void loadTypes();
    const timer = window.setInterval(() => void loadTypes(), 15000); // the registry is live
    return () => window.clearInterval(timer);
  }, [loadTypes]);

  const live = /^\/workflows\/([^/]+)$/.exec(path);
  const page = live ? "live" : path.startsWith("/workflows") ? "workflows" : "composer";
  const link = (to: string, label: string, current: boolean) => (
    <a href={to} aria-current={current ? "page" : undefined} onClick={(e) => { e.preventDefault(); navigate(to); }}>
      {label}
    </a>
  );

  return (
    <div className="app">
      <header className="app-header">
        <span className="brand">Helicase</span>
        <nav aria-label="Main">
          {link("/", "Composer", page === "composer")}
          {link("/workflows", "Workflows", page !== "composer")}
        </nav>
        <button type="button" className="sign-out" onClick={() => void signOut()}>Sign out</button>
      </header>
      <div className="page" hidden={page !== "composer"}>
        <Composer types={types} typesError={typesError} active={page === "composer"}
          onDeployed={(id) => navigate(`/workflows/${id}`)} />
      </div>
      {page === "workflows" && <div className="page"><Workflows onOpen={(id) => navigate(`/workflows/${id}`)} /></div>}
      {live && <div className="page"><LiveView workflowId={decodeURIComponent(live[1])} /></div>}
    </div>
  );
}
