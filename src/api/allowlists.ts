// Allowlist administration: the lists the rules read, their entries (validated and
// canonicalised per list, author from the token, optional expiry), and each list's audit.
import { flatActor } from "../model/actor.js";
import { z } from "zod";
import { LIST_DESCRIPTIONS, LIST_NAMES, canonicalEntry, type AllowlistEntry, type ListName } from "../model/allowlists.js";
import type { ApiStores } from "./ports.js";
import { HttpError, notFound, route, type RouteDef } from "./router.js";
import { AuditPageSchema, EntryBody, EntrySchema, ListSchema, ListSummarySchema, PageQuery } from "./schemas.js";
import { decodeContinuation, encodeContinuation, httpEtag, iso, stale, writeIfMatch } from "./tokens.js";

export interface AllowlistDeps {
  stores: Pick<ApiStores, "allowlists">;
  now(): number;
}

const ADMIN = ["Tokenwatch.Admin"] as const;
const ENTRY_ID = /^[0-9a-f]{24}$/;
const DEFAULT_PAGE = 50;

function listName(name: string): ListName {
  if (!(LIST_NAMES as readonly string[]).includes(name)) throw notFound(`allowlist ${name}`);
  return name as ListName;
}

const entryView = (e: AllowlistEntry, etag: string, now: number) => ({
  id: e.id,
  list: e.list,
  value: e.value,
  reason: e.reason,
  expiresAt: e.expiresAt === null ? null : iso(e.expiresAt),
  expired: e.expiresAt !== null && e.expiresAt <= now,
  ...flatActor("createdBy", e.createdBy),
  createdAt: iso(e.createdAt),
  etag: httpEtag(etag),
});

/** Checks a body's value for its list and its expiry; answers 400 naming the field. */
function validEntry(list: ListName, body: z.infer<typeof EntryBody>, now: number) {
  const c = canonicalEntry(list, body.value);
  if (!c.ok) throw new HttpError(400, `value: ${c.error}`, [{ field: "body.value", message: c.error }]);
  const expiresAt = body.expiresAt ?? null;
  if (expiresAt !== null && expiresAt <= now)
    throw new HttpError(400, "expiresAt: must be in the future", [{ field: "body.expiresAt", message: "must be in the future" }]);
  return { value: c.value, reason: body.reason, expiresAt };
}

const duplicate = (list: ListName, value: string) => new HttpError(409, `${list} already holds ${value}`);
const entryPath = (list: string, id: string) => `/api/allowlists/${list}/entries/${id}`;

async function loadEntry(deps: AllowlistDeps, list: ListName, id: string) {
  const found = ENTRY_ID.test(id) ? await deps.stores.allowlists.entry(list, id) : undefined;
  if (!found) throw notFound(`entry ${id} of ${list}`);
  return found;
}

export function allowlistRoutes(deps: AllowlistDeps): RouteDef[] {
  return [
    route({
      method: "GET",
      path: "/allowlists",
      group: "allowlists",
      roles: ADMIN,
      summary: "The allowlists the rules read, with their entry counts",
      response: { status: 200, schema: z.object({ items: z.array(ListSummarySchema) }) },
      async handler() {
        const now = deps.now();
        const all = await deps.stores.allowlists.all();
        const items = LIST_NAMES.map((name) => {
          const entries = all.filter((e) => e.list === name);
          return { name, description: LIST_DESCRIPTIONS[name], entries: entries.length, activeEntries: entries.filter((e) => e.expiresAt === null || e.expiresAt > now).length };
        });
        return { status: 200, body: { items } };
      },
    }),
    route({
      method: "GET",
      path: "/allowlists/{list}",
      group: "allowlists",
      roles: ADMIN,
      summary: "A list's entries; expired ones are shown with expired: true (the rules ignore them)",
      response: { status: 200, schema: ListSchema },
      async handler(req) {
        const list = listName(req.params.list!);
        const now = deps.now();
        const items = (await deps.stores.allowlists.entriesWithEtags(list))
          .map((e) => entryView(e.entry, e.etag, now))
          .sort((a, b) => a.value.localeCompare(b.value));
        return { status: 200, body: { name: list, description: LIST_DESCRIPTIONS[list], entries: items } };
      },
    }),
    route({
      method: "GET",
      path: "/allowlists/{list}/entries/{id}",
      group: "allowlists",
      roles: ADMIN,
      summary: "One entry, with its ETag",
      response: { status: 200, schema: EntrySchema },
      async handler(req) {
        const list = listName(req.params.list!);
        const found = await loadEntry(deps, list, req.params.id!);
        return { status: 200, headers: { etag: httpEtag(found.etag) }, body: entryView(found.entry, found.etag, deps.now()) };
      },
    }),
    route({
      method: "POST",
      path: "/allowlists/{list}/entries",
      group: "allowlists",
      roles: ADMIN,
      summary: "Add an entry (value canonicalised; 409 when the list already holds it)",
      body: EntryBody,
      response: { status: 201, schema: EntrySchema },
      async handler(req) {
        const list = listName(req.params.list!);
        const now = deps.now();
        const input = validEntry(list, req.body, now);
        const result = await deps.stores.allowlists.add(list, input, req.principal!, now);
        if (!result.ok) throw duplicate(list, input.value);
        return { status: 201, headers: { etag: httpEtag(result.etag), location: entryPath(list, result.entry.id) }, body: entryView(result.entry, result.etag, now) };
      },
    }),
    route({
      method: "PUT",
      path: "/allowlists/{list}/entries/{id}",
      group: "allowlists",
      roles: ADMIN,
      summary: "Replace an entry's value, reason and expiry (If-Match required); a new value moves it to that value's id",
      body: EntryBody,
      requestHeaders: [{ name: "If-Match", required: true, description: "the entry's ETag as last read" }],
      response: { status: 200, schema: EntrySchema },
      async handler(req) {
        const list = listName(req.params.list!);
        const now = deps.now();
        const input = validEntry(list, req.body, now);
        const result = await writeIfMatch(
          req.headers,
          true,
          () => loadEntry(deps, list, req.params.id!),
          (current, etag) => deps.stores.allowlists.update(list, current.entry.id, etag, input, req.principal!, now),
        );
        if (!result.ok) {
          if (result.reason === "exists") throw duplicate(list, input.value);
          if (result.reason === "stale") throw stale();
          throw notFound(`entry ${req.params.id!} of ${list}`);
        }
        return { status: 200, headers: { etag: httpEtag(result.etag), "content-location": entryPath(list, result.entry.id) }, body: entryView(result.entry, result.etag, now) };
      },
    }),
    route({
      method: "DELETE",
      path: "/allowlists/{list}/entries/{id}",
      group: "allowlists",
      roles: ADMIN,
      summary: "Delete an entry (If-Match optional: when sent, only that version is deleted)",
      requestHeaders: [{ name: "If-Match", required: false, description: "delete only if the entry is still this version" }],
      response: { status: 204 },
      async handler(req) {
        const list = listName(req.params.list!);
        const result = await writeIfMatch(
          req.headers,
          false,
          () => loadEntry(deps, list, req.params.id!),
          (current, etag) => deps.stores.allowlists.remove(list, current.entry.id, etag, req.principal!, deps.now()),
        );
        if (!result.ok) throw result.reason === "stale" ? stale() : notFound(`entry ${req.params.id!} of ${list}`);
        return { status: 204 };
      },
    }),
    route({
      method: "GET",
      path: "/allowlists/{list}/audit",
      group: "allowlists",
      roles: ADMIN,
      summary: "A list's audit log, newest first: who changed what, when, before and after",
      query: PageQuery,
      response: { status: 200, schema: AuditPageSchema },
      async handler(req) {
        const list = listName(req.params.list!);
        const scope = `audit:${list}`;
        const cursor = decodeContinuation(req.query.continuation, scope, z.strictObject({ after: z.string().regex(/^[0-9]{16}-[0-9a-f]{8}$/) }));
        const { records, more } = await deps.stores.allowlists.auditLog(list, req.query.limit ?? DEFAULT_PAGE, cursor?.after);
        const last = records.at(-1);
        return {
          status: 200,
          body: {
            items: records.map((r) => ({ id: r.id, at: iso(r.at), ...flatActor("actor", r.actor), action: r.action, before: r.before, after: r.after })),
            continuation: more && last ? encodeContinuation(scope, { after: last.id }) : null,
          },
        };
      },
    }),
  ];
}
