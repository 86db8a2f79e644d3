// Who made a change, as every audit record keeps it (incident history, allowlist entries and
// their audit log, webhook subscriptions). A display name comes from the token and is for
// people to read: anyone with a directory account can be called "Alice Admin (CISO)". The
// object id and tenant cannot be renamed, so they are what identifies the actor.
export interface Actor {
  /** upn / preferred_username / name / app id from the token, or tokenwatch's own name for a change it made. */
  name: string;
  /** The token's object id (`oid`, else `sub`); null for a change tokenwatch or its CLI made. */
  id: string | null;
  /** The token's tenant (`tid`); null when the token carries none, or for tokenwatch itself. */
  tenantId: string | null;
}

/** A change made by tokenwatch itself (seeded defaults, a replay's --allowlist file): no token, so no ids. */
export const systemActor = (name: string): Actor => ({ name, id: null, tenantId: null });

type Flat<F extends string, V> = { [K in F | `${F}Id` | `${F}TenantId`]: V };

/** An actor as flat fields named after `field` (field = name, fieldId, fieldTenantId): API views, and rows with "" for null. */
export function flatActor<F extends string>(field: F, actor: Actor): Flat<F, string | null> {
  return { [field]: actor.name, [`${field}Id`]: actor.id, [`${field}TenantId`]: actor.tenantId } as Flat<F, string | null>;
}

/** The Table Storage columns of an actor (Table Storage has no null: ""). */
export function actorColumns<F extends string>(field: F, actor: Actor): Flat<F, string> {
  return { [field]: actor.name, [`${field}Id`]: actor.id ?? "", [`${field}TenantId`]: actor.tenantId ?? "" } as Flat<F, string>;
}

/** An actor read back from its columns; rows written before the ids were kept have none. */
export function actorFromColumns(field: string, entity: object): Actor {
  const columns = entity as Record<string, unknown>;
  const text = (name: string) => (typeof columns[name] === "string" && columns[name] !== "" ? (columns[name] as string) : null);
  return { name: text(field) ?? "", id: text(`${field}Id`), tenantId: text(`${field}TenantId`) };
}
