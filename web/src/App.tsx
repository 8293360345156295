// The composer's shell: a header and three pages (composer, workflows, one workflow live),
// routed by the URL path (the api serves index.html for every path).
import { useCallback, useEffect, useState } from "react";

import { errorText, listTaskTypes } from "./api";
import { Composer } from "./Composer";
import { LiveView } from "./LiveView";
import type { TaskTypeInfo } from "./model";
import { Workflows } from "./Workflows";

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
