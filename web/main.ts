// The tokenwatch console: a single page over the API. Routing is by URL fragment
// (#/accounts, #/incidents?…, #/incident/<id>, #/allowlists/<list>, #/rules, #/webhooks),
// so the server serves one page. What the page offers follows the signed-in roles; the
// API still decides, and its 401/403 answers are shown with the role they need.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { AllowlistsView, RulesView, WebhooksView } from "./admin.js";
import { canRead, isAdmin, request, type Session } from "./api.js";
import { devSession, devSignIn, entra, type ConsoleConfig } from "./auth.js";
import { AccountsView, IncidentView, IncidentsView } from "./incidents.js";
import { html, ProblemPanel, toApiError } from "./ui.js";
import "./style.css";

function useRoute() {
  const [route, setRoute] = useState(location.hash.slice(1) || "/accounts");
  useEffect(() => {
    const onChange = () => {
      setRoute(location.hash.slice(1) || "/accounts");
      window.scrollTo(0, 0);
    };
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  const [path, query = ""] = route.split("?");
  return { parts: path!.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

function View({ session }: { session: Session }) {
  const { parts, query } = useRoute();
  const [view, arg] = parts;
  switch (view) {
    case "accounts":
      return html`<${AccountsView} session=${session} />`;
    case "incidents":
      return html`<${IncidentsView} key=${query.toString()} session=${session} query=${query} />`;
    case "incident":
      return html`<${IncidentView} key=${arg} session=${session} id=${arg ?? ""} />`;
    case "allowlists":
      return html`<${AllowlistsView} session=${session} list=${arg} />`;
    case "rules":
      return html`<${RulesView} session=${session} />`;
    case "webhooks":
      return html`<${WebhooksView} session=${session} />`;
    default:
      return html`<h1>Not found</h1><p>No view here. <a href="#/accounts">Accounts</a></p>`;
  }
}

function Shell({ session, onSignOut }: { session: Session; onSignOut(): void }) {
  const { parts } = useRoute();
  const link = (view: string, label: string) => html`<a href=${`#/${view}`} aria-current=${parts[0] === view || (view === "incidents" && parts[0] === "incident") ? "page" : undefined}>${label}</a>`;
  return html`<header class="top">
      <a class="brand" href="#/accounts">tokenwatch</a>
      <nav aria-label="Main">
        ${canRead(session) ? [link("accounts", "Accounts"), link("incidents", "Incidents")] : null}
        ${canRead(session) || isAdmin(session) ? link("rules", "Rules") : null}
        ${isAdmin(session) ? [link("allowlists", "Allowlists"), link("webhooks", "Webhooks")] : null}
      </nav>
      <span class="who">${session.name} <span class="muted">(${session.roles.join(", ") || "no roles"})</span></span>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </header>
    <main id="main"><${View} session=${session} /></main>`;
}

const DEV_ROLES: { label: string; roles: string[] }[] = [
  { label: "Reader (Incidents.Read)", roles: ["Incidents.Read"] },
  { label: "Analyst (Incidents.Read, Incidents.Write)", roles: ["Incidents.Read", "Incidents.Write"] },
  { label: "Admin (all three roles)", roles: ["Incidents.Read", "Incidents.Write", "Tokenwatch.Admin"] },
  { label: "No role (to see a 403)", roles: [] },
];

function DevSignIn({ onSession }: { onSession(s: Session): void }) {
  const [choice, setChoice] = useState(1);
  const [user, setUser] = useState("analyst@tokenwatch.local");
  const [error, setError] = useState<ReturnType<typeof toApiError> | undefined>();
  const submit = (e: Event) => {
    e.preventDefault();
    devSignIn(DEV_ROLES[choice]!.roles, user.trim() || undefined).then(onSession, (err: unknown) => setError(toApiError(err)));
  };
  return html`<main id="main" class="signin">
    <h1>Sign in to tokenwatch (dev mode)</h1>
    <p>This host runs in dev mode: pick the app roles to sign in with. In Azure this page signs in with Microsoft Entra ID.</p>
    <form onSubmit=${submit}>
      <fieldset><legend>Role</legend>
        ${DEV_ROLES.map((r, i) => html`<label class="block"><input type="radio" name="role" value=${i} checked=${choice === i} onChange=${() => setChoice(i)} /> ${r.label}</label>`)}
      </fieldset>
      <label class="block">User name <input name="user" value=${user} onInput=${(e: Event) => setUser((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">Sign in</button>
    </form>
    ${error ? html`<${ProblemPanel} error=${error} />` : null}
  </main>`;
}

function App({ config }: { config: ConsoleConfig }) {
  const [session, setSession] = useState<Session | null>(config.signIn === "dev" ? devSession() : null);
  const [entraState, setEntra] = useState<Awaited<ReturnType<typeof entra>> | null>(null);
  const [error, setError] = useState<ReturnType<typeof toApiError> | undefined>();
  useEffect(() => {
    if (config.signIn !== "entra") return;
    entra(config).then(
      (state) => (setEntra(state), setSession(state.session)),
      (err: unknown) => setError(toApiError(err)),
    );
  }, []);
  const signOut = () => (session?.signOut(), setSession(null));
  if (session) return html`<${Shell} session=${session} onSignOut=${signOut} />`;
  if (error) return html`<main id="main"><h1>Sign-in failed</h1><${ProblemPanel} error=${error} /></main>`;
  if (config.signIn === "dev") return html`<${DevSignIn} onSession=${setSession} />`;
  if (config.signIn === "none") return html`<main id="main"><h1>tokenwatch</h1><div class="problem" role="alert"><p>${config.reason}</p></div></main>`;
  if (!entraState) return html`<main id="main"><p>Signing in…</p></main>`;
  return html`<main id="main" class="signin"><h1>tokenwatch</h1><p>Sign in with your work account. What you can do depends on the tokenwatch app roles assigned to you.</p>
    <button type="button" onClick=${() => void entraState.signIn()}>Sign in with Microsoft</button></main>`;
}

async function start() {
  const root = document.getElementById("app")!;
  try {
    const config = await request<ConsoleConfig>("/console/config.json");
    render(html`<${App} config=${config} />`, root);
  } catch (error) {
    render(html`<main id="main"><h1>tokenwatch</h1><${ProblemPanel} error=${toApiError(error)} /></main>`, root);
  }
}

void start();
