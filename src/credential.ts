// The one place that creates a DefaultAzureCredential (the managed identity in Azure, the
// developer's login locally). @azure/identity is loaded only when a credential is first
// needed: it costs a quarter second at start-up that replay never needs.
import type { TokenCredential } from "@azure/identity";

/** A credential getter: the given credential, else one DefaultAzureCredential made on first use and kept. */
export function lazyCredential(given?: TokenCredential): () => Promise<TokenCredential> {
  let credential: Promise<TokenCredential> | undefined = given ? Promise.resolve(given) : undefined;
  return () => (credential ??= import("@azure/identity").then(({ DefaultAzureCredential }) => new DefaultAzureCredential()));
}
