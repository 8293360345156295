// A form for a task's params, generated from its type's JSON schema. Emptying a field removes
// the param (so a required one is reported as missing, as the server would).
import type { JsonSchema, JsonValue } from "./model";

interface Props {
  schema: JsonSchema;
  params: Record<string, JsonValue>;
  onChange: (params: Record<string, JsonValue>) => void;
  onFocus: () => void;
}

function mainType(schema: JsonSchema): string {
  return Array.isArray(schema.type) ? (schema.type[0] ?? "string") : (schema.type ?? "string");
}

function parseNumberList(text: string, integer: boolean): JsonValue {
  const parts = text.split(",").map((p) => p.trim()).filter(Boolean);
  return parts.map((p) => {
    const n = Number(p);
    return Number.isNaN(n) || (integer && !Number.isInteger(n)) ? p : n;
  });
}

export function ParamsForm({ schema, params, onChange, onFocus }: Props) {
  const props = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const set = (name: string, value: JsonValue | undefined) => {
    const next = { ...params };
    if (value === undefined) delete next[name];
    else next[name] = value;
    onChange(next);
  };
  if (!props.length) return <p className="muted">This task type takes no parameters.</p>;
  return (
    <fieldset className="params">
      <legend>Parameters</legend>
      {props.map(([name, prop]) => {
        const id = `param-${name}`;
        const type = mainType(prop);
        const value = params[name];
        const label = (
          <label htmlFor={id}>
            {name}
            {required.has(name) ? <span className="required" aria-label="required"> *</span> : null}
          </label>
        );
        let input;
        if (type === "boolean") {
          input = (
            <input id={id} type="checkbox" checked={value === true} onFocus={onFocus}
              onChange={(e) => set(name, e.target.checked)} />
          );
        } else if (type === "number" || type === "integer") {
          input = (
            <input id={id} type="number" step={type === "integer" ? 1 : "any"} onFocus={onFocus}
              value={typeof value === "number" ? value : typeof value === "string" ? value : ""}
              onChange={(e) => set(name, e.target.value === "" ? undefined : Number(e.target.value))} />
          );
        } else if (type === "array" && prop.items && ["integer", "number"].includes(mainType(prop.items))) {
          input = (
            <input id={id} type="text" placeholder="comma-separated numbers" onFocus={onFocus}
              value={Array.isArray(value) ? value.join(", ") : ""}
              onChange={(e) =>
                set(name, e.target.value.trim() === "" ? undefined : parseNumberList(e.target.value, mainType(prop.items!) === "integer"))} />
          );
        } else if (type === "array" || type === "object") {
          input = (
            <textarea id={id} rows={3} placeholder="JSON" onFocus={onFocus}
              defaultValue={value === undefined ? "" : JSON.stringify(value)}
              onBlur={(e) => {
                const text = e.target.value.trim();
                if (!text) return set(name, undefined);
                try {
                  set(name, JSON.parse(text) as JsonValue);
                } catch {
                  set(name, text);
                }
              }} />
          );
        } else if (prop.enum) {
          input = (
            <select id={id} value={value === undefined ? "" : String(value)} onFocus={onFocus}
              onChange={(e) => set(name, e.target.value === "" ? undefined : e.target.value)}>
              <option value="">(unset)</option>
              {prop.enum.map((v) => <option key={String(v)} value={String(v)}>{String(v)}</option>)}
            </select>
          );
        } else {
          input = (
            <input id={id} type="text" onFocus={onFocus}
              value={typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value)}
              onChange={(e) => set(name, e.target.value === "" ? undefined : e.target.value)} />
          );
        }
        return (
          <div className="field" key={name}>
            {label}
            {input}
            {prop.description ? <small className="muted">{prop.description}</small> : null}
          </div>
        );
      })}
    </fieldset>
  );
}
