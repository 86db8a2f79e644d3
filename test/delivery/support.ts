// Test support for webhook delivery: a real HTTP receiver on 127.0.0.1 that verifies
// every request with the `standardwebhooks` library, as a consumer would, and helpers to
// place alerts through the real IncidentRepository on Azurite, and the webhook admin routes
// behind the real API, called by operation name.
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from "jose";
import { createApi } from "../../src/api/app.js";
import { Authenticator } from "../../src/api/auth.js";
import type { ApiResponse } from "../../src/api/router.js";
import { webhookRoutes, type WebhookAdminDeps } from "../../src/api/webhooks.js";
import { createStores } from "../../src/store/index.js";
import { fromMs } from "../../src/model/time.js";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Webhook } from "standardwebhooks";
import type { Alert } from "../../src/engine/incidents.js";
import type { Severity } from "../../src/model/severity.js";
import { IncidentRepository } from "../../src/store/incidents.js";
import { TableStore } from "../../src/store/tables.js";
import { incidentPlanner } from "../../src/engine/planner.js";

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Which of the receiver's secrets verified it ("payload": an unsigned endpoint's payload check passed; null: rejected). */
  verifiedWith: string | null;
  error: string | null;
}

/** What the receiver answers a verified request with; "hang" never answers. */
export type Reply = { status: number; headers?: Record<string, string> } | "hang";

export class Receiver {
  readonly received: Received[] = [];
  /** Secrets the consumer holds; a request verifying with none of them is answered 401. */
  secrets: string[] = [];
  /**
   * An unsigned endpoint (Teams, Slack) checks the payload instead: the problems found,
   * answered 400 as those services answer a malformed message. Replaces the signature check.
   */
  checkPayload: ((body: string) => string[]) | null = null;
  reply: (req: Received, n: number) => Reply = () => ({ status: 204 });
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<ServerResponse>();
  port = 0;

  constructor() {
    this.server = this.newServer();
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Accepted requests only (verified and on the hook path). */
  get accepted(): Received[] {
    return this.received.filter((r) => r.verifiedWith !== null && r.path === "/hook");
  }

  /** Events as the consumer saw them: parsed bodies of verified requests answered 2xx. */
  readonly delivered: { id: string; body: Record<string, any>; headers: Record<string, string> }[] = [];

  async start(port = 0): Promise<void> {
    this.server.listen(port, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Down: nothing listens on the port (connections are refused). */
  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server = this.newServer();
  }

  /** Back up on the same port. */
  async restart(): Promise<void> {
    await this.start(this.port);
  }

  private newServer(): Server {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    return server;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]));
    const entry: Received = { path: req.url ?? "", headers, body, verifiedWith: null, error: null };
    if (this.checkPayload) {
      const problems = this.checkPayload(body);
      if (problems.length === 0) entry.verifiedWith = "payload";
      else entry.error = problems.join("; ");
    }
    for (const secret of this.checkPayload ? [] : this.secrets) {
      try {
        new Webhook(secret).verify(body, headers);
        entry.verifiedWith = secret;
        break;
      } catch (error) {
        entry.error = (error as Error).message;
      }
    }
    this.received.push(entry);
    if (entry.verifiedWith === null) {
      res.writeHead(this.checkPayload ? 400 : 401).end(entry.error ?? "no secret");
      return;
    }
    const reply = this.reply(entry, this.received.length);
    if (reply === "hang") {
      this.hanging.add(res);
      return;
    }
    if (reply.status >= 200 && reply.status < 300 && entry.path === "/hook") this.delivered.push({ id: headers["webhook-id"] ?? "", body: JSON.parse(body), headers });
    res.writeHead(reply.status, reply.headers).end();
  }
}

/** A store over the shared Azurite with its own tables (prefix), like a separate deployment. */
let prefixes = 0;
export function freshStore(connectionString: string): { store: TableStore; prefix: string } {
  const prefix = `t${process.pid}x${++prefixes}x${Date.now().toString(36)}`;
  return { store: new TableStore({ connectionString, tablePrefix: prefix }), prefix };
}

const RULE = { id: "0b9ae89d-8cad-461c-808f-0494f70ad5c4", name: "Interactive STS refresh token modifications", severity: "Low" as Severity };
let alertCounter = 0;

/** An alert as the engine would make it (one rule, one account). */
export function alert(account: string, time: number, severity: Severity = RULE.severity, ruleId = RULE.id): Omit<Alert, "incidentId"> {
  const n = ++alertCounter;
  return {
    id: `alert${String(n).padStart(6, "0")}${Math.random().toString(16).slice(2, 10)}`,
    ruleId,
    ruleName: RULE.name,
    severity,
    time: fromMs(time),
    account,
    ip: "198.51.100.7",
    title: `token modified for ${account}`,
    details: { n, operation: "Update StsRefreshTokenValidFrom Timestamp" },
    entities: [
      { type: "account", name: account.split("@")[0]!, upnSuffix: account.split("@")[1] },
      { type: "ip", address: "198.51.100.7" },
    ],
  };
}

export async function place(store: TableStore, alerts: Omit<Alert, "incidentId">[], now: number) {
  return new IncidentRepository(store, incidentPlanner).place(alerts, now);
}

export const ADMIN = { id: "admin-1", name: "admin@contoso.com", roles: ["Tokenwatch.Admin"] };

/** Who calls an admin operation: signed into a bearer token for the API (null: no token). */
export type Caller = { id: string; name: string; roles: readonly string[] } | null;

export interface AdminCall {
  params: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  headers: Record<string, string>;
  principal: Caller;
}

const OPERATIONS = {
  eventSchema: ["GET", "/event-schema"],
  listSubscriptions: ["GET", "/subscriptions"],
  createSubscription: ["POST", "/subscriptions"],
  getSubscription: ["GET", "/subscriptions/{id}"],
  updateSubscription: ["PATCH", "/subscriptions/{id}"],
  deleteSubscription: ["DELETE", "/subscriptions/{id}"],
  rotateSecret: ["POST", "/subscriptions/{id}/rotate-secret"],
  sendTest: ["POST", "/subscriptions/{id}/test"],
  listDeliveries: ["GET", "/subscriptions/{id}/deliveries"],
  getDelivery: ["GET", "/subscriptions/{id}/deliveries/{deliveryId}"],
  redeliver: ["POST", "/subscriptions/{id}/deliveries/{deliveryId}/redeliver"],
} as const;

const ISSUER = "https://tokenwatch.test/issuer";
const AUDIENCE = "api://tokenwatch-delivery-tests";
const signing = (async () => {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" };
  return { privateKey, trust: { name: "test", issuers: [ISSUER], audiences: [AUDIENCE], keys: createLocalJWKSet({ keys: [jwk] }) } };
})();

/** The webhook administration routes (src/api/webhooks.ts) behind the real API, one function per operation. */
export function webhookAdmin(store: TableStore, deps: WebhookAdminDeps): Record<keyof typeof OPERATIONS, (call: AdminCall) => Promise<ApiResponse>> {
  const api = signing.then(({ trust }) => createApi({ stores: createStores(store, incidentPlanner), auth: new Authenticator([trust]), now: deps.now, extraRoutes: webhookRoutes(deps) }));
  const operation =
    ([method, template]: (typeof OPERATIONS)[keyof typeof OPERATIONS]) =>
    async (call: AdminCall): Promise<ApiResponse> => {
      const path = `/api/webhooks${template.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(call.params[name] ?? ""))}`;
      const headers: Record<string, string> = { ...call.headers };
      if (call.principal) {
        const { privateKey } = await signing;
        headers.authorization = `Bearer ${await new SignJWT({ roles: [...call.principal.roles], oid: call.principal.id, preferred_username: call.principal.name })
          .setProtectedHeader({ alg: "RS256", kid: "k1" })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setExpirationTime("1h")
          .sign(privateKey)}`;
      }
      if (call.body !== undefined) headers["content-type"] = "application/json";
      const body = call.body === undefined ? null : Buffer.from(JSON.stringify(call.body));
      return (await api).handle({ method, path, query: new URLSearchParams(call.query), headers, body, bodyTooLarge: false });
    };
  return Object.fromEntries(Object.entries(OPERATIONS).map(([name, op]) => [name, operation(op)])) as ReturnType<typeof webhookAdmin>;
}
