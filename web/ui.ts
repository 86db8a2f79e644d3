// Shared pieces: data loading with errors, the problem panel (what role a 403 needs), the
// pager over the API's continuation tokens, and formatting.
import { html } from "htm/preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError, type Session } from "./api.js";

export { html };

export interface Loaded<T> {
  data?: T;
  error?: ApiError;
  reload(): void;
}

/** Runs `load` when `key` changes (and on reload()); the last data stays shown while it reloads. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data }),
      (error: unknown) => live && setState({ error: toApiError(error) }),
    );
    return () => void (live = false);
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError({ title: "Error", status: 0, detail: error instanceof Error ? error.message : String(error) });
}

const ROLE_HINT: Record<number, string> = {
  401: "You are not signed in, or your sign-in expired. Sign in again.",
  403: "Ask an administrator to assign you the app role named above.",
};

/** A problem from the API, in words: a 403 names the app role it needs. */
export function ProblemPanel({ error, onRetry }: { error: ApiError; onRetry?: () => void }) {
  const p = error.problem;
  return html`<div class="problem" role="alert">
    <strong>${p.status ? `${p.status} ${p.title}` : p.title}</strong>
    ${p.detail ? html`<p>${p.detail.replace(/^this operation needs/, "This view needs")}</p>` : null}
    ${p.errors?.length ? html`<ul>${p.errors.map((e) => html`<li>${e.field.replace(/^(body|query)\./, "")}: ${e.message}</li>`)}</ul>` : null}
    ${ROLE_HINT[p.status] ? html`<p>${ROLE_HINT[p.status]}</p>` : null}
    ${onRetry ? html`<button type="button" onClick=${onRetry}>Retry</button>` : null}
  </div>`;
}

/** Data, its error, or a loading line. */
export function Loading<T>({ loaded, children }: { loaded: Loaded<T>; children: (data: T) => unknown }) {
  if (loaded.error) return html`<${ProblemPanel} error=${loaded.error} onRetry=${loaded.reload} />`;
  if (loaded.data === undefined) return html`<p aria-live="polite">Loading…</p>`;
  return children(loaded.data);
}

/** Server paging: a stack of continuation tokens (undefined = the first page). */
export function usePages() {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  const current = stack.at(-1);
  return {
    current,
    page: stack.length,
    next: (token: string) => setStack([...stack, token]),
    previous: () => setStack(stack.length > 1 ? stack.slice(0, -1) : stack),
  };
}

export function Pager({ pages, continuation }: { pages: ReturnType<typeof usePages>; continuation: string | null }) {
  return html`<nav class="pager" aria-label="Pages">
    <button type="button" disabled=${pages.page === 1} onClick=${pages.previous}>Previous</button>
    <span>Page ${pages.page}</span>
    <button type="button" disabled=${!continuation} onClick=${() => continuation && pages.next(continuation)}>Next</button>
  </nav>`;
}

export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "—");

export function Severity({ value }: { value: string | null }) {
  return value ? html`<span class=${`sev sev-${value.toLowerCase()}`}>${value}</span>` : html`<span>—</span>`;
}

export const hash = (path: string, query: Record<string, string | undefined> = {}) => {
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => !!e[1]));
  return `#${path}${q.size ? `?${q}` : ""}`;
};

/** An ISO time as a datetime-local input's value (the browser's time zone), "" for none. */
export const localOf = (iso: string | null) => (iso ? new Date(new Date(iso).getTime() - new Date(iso).getTimezoneOffset() * 60_000).toISOString().slice(0, 16) : "");

/** A datetime-local input's value as ISO (UTC), or undefined when empty. */
export const isoOf = (local: string) => (local ? new Date(local).toISOString() : undefined);

export type SessionProps = { session: Session };
