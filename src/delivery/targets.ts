// Target safety for webhook URLs. A subscription's URL is operator-controlled, but
// tokenwatch runs inside Azure next to the instance metadata service and private
// networks: a URL must not let anyone make the app call those. So: HTTPS only, and the
// address actually connected to — resolved at every attempt, never the hostname as
// written — may not be private, loopback, link-local, CGNAT, unique-local or metadata.
// The caller connects to exactly the address checked here (see send.ts), so a DNS answer
// that changes between the check and the connection (DNS rebinding) cannot slip through.
import { lookup } from "node:dns/promises";
import { embeddedIpv4, IpMatcher, parseIp } from "../net/ip.js";

/** Addresses a webhook may never reach unless the operator allows private targets. */
export const BLOCKED_RANGES: readonly string[] = [
  // IPv4
  "0.0.0.0/8", // "this network"
  "10.0.0.0/8", // private
  "100.64.0.0/10", // CGNAT
  "127.0.0.0/8", // loopback
  "168.63.129.16/32", // Azure WireServer (host agent, health probes, DNS): reachable from every Azure VM
  "169.254.0.0/16", // link-local, incl. 169.254.169.254 (instance metadata)
  "172.16.0.0/12", // private
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // documentation
  "192.168.0.0/16", // private
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24", // documentation
  "203.0.113.0/24", // documentation
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, incl. 255.255.255.255
  // IPv6 (an embedded IPv4 address is checked against the IPv4 ranges: isBlockedAddress)
  "::/128", // unspecified
  "::1/128", // loopback
  "64:ff9b:1::/48", // local-use NAT64 (RFC 8215): where the IPv4 address sits is the operator's choice
  "100::/64", // discard
  "2001:db8::/32", // documentation
  "fc00::/7", // unique local, incl. fd00:ec2::254 (AWS metadata over IPv6)
  "fe80::/10", // link-local
  "fec0::/10", // deprecated site-local
  "ff00::/8", // multicast
];

const BLOCKED = new IpMatcher(BLOCKED_RANGES);

export interface TargetPolicy {
  /** TOKENWATCH_WEBHOOK_ALLOW_HTTP: plain http:// URLs accepted (local host, tests). */
  allowHttp: boolean;
  /** TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS: blocked ranges accepted (local receivers). */
  allowPrivate: boolean;
}

export class TargetRefused extends Error {
  override readonly name = "TargetRefused";
}

/** True when the address, or an IPv4 address it embeds, is in a range a webhook may not reach. */
export function isBlockedAddress(address: string): boolean {
  return BLOCKED.lookup(address) === true || embeddedIpv4(address).some((v4) => BLOCKED.lookup(v4) === true);
}

/** The URL checks that need no DNS: scheme, no credentials, a host, a blocked literal address. */
export function checkUrl(raw: string, policy: TargetPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused("not an absolute URL");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowHttp)) {
    throw new TargetRefused(policy.allowHttp ? "only http and https URLs" : "only https URLs");
  }
  if (url.username || url.password) throw new TargetRefused("credentials in the URL are not allowed; use the signature to authenticate");
  const host = hostOf(url);
  if (!host) throw new TargetRefused("no host");
  if (!policy.allowPrivate && parseIp(host) && isBlockedAddress(host)) throw new TargetRefused(`address ${host} is private, loopback, link-local or metadata`);
  return url;
}

/** The URL's host without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

export interface ResolvedTarget {
  url: URL;
  /** The address to connect to: checked, and the only one the request may use. */
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

/**
 * Resolves the URL's host and checks EVERY address it resolves to (a name that resolves
 * to a public and a private address is refused: which one a connection would use is not
 * ours to guess). Returns the first address, to connect to.
 */
export async function resolveTarget(raw: string, policy: TargetPolicy, resolver: Resolver = systemResolver): Promise<ResolvedTarget> {
  const url = checkUrl(raw, policy);
  const host = hostOf(url);
  let answers: { address: string; family: number }[];
  try {
    answers = await resolver(host);
  } catch (error) {
    throw new TargetRefused(`cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (answers.length === 0) throw new TargetRefused(`${host} has no address`);
  if (!policy.allowPrivate) {
    for (const a of answers) {
      if (isBlockedAddress(a.address)) throw new TargetRefused(`${host} resolves to ${a.address}, a private, loopback, link-local or metadata address`);
    }
  }
  const first = answers[0]!;
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
