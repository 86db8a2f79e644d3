// Sign-in. Dev mode (`tokenwatch serve`): a role picker that asks the host for a dev token.
// Azure: Microsoft Entra ID with MSAL (authorization code + PKCE, redirect flow) against the
// API's app registration; MSAL is loaded only here, so dev mode never downloads it.
import { claims, request, type Session } from "./api.js";

export type ConsoleConfig =
  | { signIn: "dev"; roles: string[] }
  | { signIn: "entra"; clientId: string; authority: string; scopes: string[] }
  | { signIn: "none"; reason: string };

const DEV_KEY = "tokenwatch.devToken";

export function devSession(): Session | null {
  const token = sessionStorage.getItem(DEV_KEY);
  if (!token) return null;
  return { ...claims(token), token: async () => token, signOut: () => sessionStorage.removeItem(DEV_KEY) };
}

export async function devSignIn(roles: string[], user: string | undefined): Promise<Session> {
  const { token } = await request<{ token: string }>("/console/dev-token", { method: "POST", body: { roles, ...(user ? { user } : {}) } });
  sessionStorage.setItem(DEV_KEY, token);
  return devSession()!;
}

export interface Entra {
  session: Session | null;
  signIn(): Promise<void>;
}

/** MSAL set up for this page; completes a redirect back from Entra ID when there is one. */
export async function entra(config: Extract<ConsoleConfig, { signIn: "entra" }>): Promise<Entra> {
  const msal = await import("@azure/msal-browser");
  const pca = new msal.PublicClientApplication({
    auth: { clientId: config.clientId, authority: config.authority, redirectUri: location.origin + location.pathname },
    cache: { cacheLocation: "sessionStorage" },
  });
  await pca.initialize();
  const redirect = await pca.handleRedirectPromise();
  const account = redirect?.account ?? pca.getActiveAccount() ?? pca.getAllAccounts()[0] ?? null;
  const signIn = () => pca.loginRedirect({ scopes: config.scopes });
  if (!account) return { session: null, signIn };
  pca.setActiveAccount(account);
  const token = async () => {
    try {
      return (await pca.acquireTokenSilent({ scopes: config.scopes, account })).accessToken;
    } catch (error) {
      if (error instanceof msal.InteractionRequiredAuthError) await pca.acquireTokenRedirect({ scopes: config.scopes, account });
      throw error;
    }
  };
  const first = await token();
  return { session: { ...claims(first), token, signOut: () => void pca.logoutRedirect({ account }) }, signIn };
}
