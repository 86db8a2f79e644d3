/**
 * KQL validation for tests: parses and analyses query text with the Kusto language service
 * (Kusto.Language, the Bridge.NET build Monaco uses, from @kusto/language-service-next) against a
 * database holding the Log Analytics tables in ./kusto-schemas.ts.
 *
 * The package is not an ES module: `bridge.js` is the Bridge.NET runtime (under CommonJS it puts
 * `Bridge` on the Node global) and `Kusto.Language.Bridge.js` registers the `Kusto.Language`
 * namespace on that global. Both are loaded with `createRequire`, once per process.
 */
import { createRequire } from "node:module";

import { LOG_ANALYTICS_SCHEMAS, type KustoType } from "../../src/bench/kusto-schemas.js";

// Minimal structural types for the parts of the Bridge API used here (the package's own .d.ts
// declares global namespaces and is 1.7 MB; it is not referenced).
interface KSymbol {
  readonly Name: string;
}
interface KDiagnostic {
  readonly Code: string;
  readonly Message: string;
  readonly Severity: string;
  readonly Start: number;
  readonly Length: number;
  readonly HasLocation: boolean;
}
interface KGlobalState {
  WithDatabase(database: KSymbol): KGlobalState;
}
interface KCode {
  GetDiagnostics(): unknown;
}
interface KustoLanguage {
  GlobalState: { Default: KGlobalState };
  KustoCode: { ParseAndAnalyze(text: string, globals: KGlobalState): KCode };
  DiagnosticSeverity: { Error: string };
  Symbols: {
    ScalarTypes: Record<string, KSymbol>;
    ColumnSymbol: new (
      name: string,
      type: KSymbol,
      description: string | null,
      originalColumns: null,
      source: null,
      examples: null,
    ) => KSymbol;
    TableSymbol: { $ctor4: new (name: string, columns: KSymbol[]) => KSymbol };
    DatabaseSymbol: {
      $ctor2: new (name: string, alternateName: string | null, members: KSymbol[]) => KSymbol;
    };
  };
}
interface BridgeRuntime {
  toArray<T>(list: unknown): T[];
}

interface Library {
  readonly kusto: KustoLanguage;
  readonly bridge: BridgeRuntime;
}

/** Kusto scalar type names to the ScalarTypes members of Kusto.Language. */
const SCALAR_TYPE_MEMBER: Record<KustoType, string> = {
  string: "String",
  datetime: "DateTime",
  dynamic: "Dynamic",
  bool: "Bool",
  int: "Int",
  long: "Long",
  real: "Real",
  decimal: "Decimal",
  guid: "Guid",
  timespan: "TimeSpan",
};

let library: Library | undefined;

function loadLibrary(): Library {
  if (library) return library;
  const require = createRequire(import.meta.url);
  const bridge = require("@kusto/language-service-next/bridge.js") as BridgeRuntime;
  require("@kusto/language-service-next/Kusto.Language.Bridge.js");
  const kusto = (globalThis as { Kusto?: { Language?: KustoLanguage } }).Kusto?.Language;
  if (!kusto) {
    throw new Error("@kusto/language-service-next did not define the global Kusto.Language");
  }
  library = { kusto, bridge };
  return library;
}

/** The language service's global state with a database of these tables as the default. */
function globalsFor(kusto: KustoLanguage, databaseName: string, schemas: Record<string, Record<string, KustoType>>): KGlobalState {
  const { ScalarTypes, ColumnSymbol, TableSymbol, DatabaseSymbol } = kusto.Symbols;
  const tables = Object.entries(schemas).map(([tableName, columns]) => {
    const columnSymbols = Object.entries(columns).map(([columnName, type]) => {
      const scalar = ScalarTypes[SCALAR_TYPE_MEMBER[type]];
      if (!scalar) throw new Error(`No Kusto scalar type for ${tableName}.${columnName}: ${type}`);
      return new ColumnSymbol(columnName, scalar, null, null, null, null);
    });
    return new TableSymbol.$ctor4(tableName, columnSymbols);
  });
  return kusto.GlobalState.Default.WithDatabase(new DatabaseSymbol.$ctor2(databaseName, null, tables));
}

/** 1-based line and column of a character offset. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return `${line}:${column}`;
}

/**
 * A validator for queries over the given tables: returns their error diagnostics (syntax
 * errors, unknown tables, columns or functions, type errors) as readable strings such as
 * `KS142 at 1:19 'OperationNam': The name 'OperationNam' does not refer to any known column, ...`.
 * Warnings and suggestions are left out; an empty list means the query analyses cleanly.
 */
export function kqlValidator(schemas: Record<string, Record<string, KustoType>>, databaseName = "Database"): (query: string) => string[] {
  const { kusto, bridge } = loadLibrary();
  const globals = globalsFor(kusto, databaseName, schemas);
  return (query) =>
    bridge
      .toArray<KDiagnostic>(kusto.KustoCode.ParseAndAnalyze(query, globals).GetDiagnostics())
      .filter((d) => d.Severity === kusto.DiagnosticSeverity.Error)
      .map((d) => {
        if (!d.HasLocation) return `${d.Code}: ${d.Message}`;
        const snippet = query.slice(d.Start, d.Start + d.Length).trim();
        const at = `${d.Code} at ${position(query, d.Start)}`;
        return snippet ? `${at} '${snippet}': ${d.Message}` : `${at}: ${d.Message}`;
      });
}

let logAnalytics: ((query: string) => string[]) | undefined;

/** Loads the language service, builds the Log Analytics schema and warms it up (1-2 s); later calls are no-ops. */
export function loadKusto(): void {
  if (logAnalytics) return;
  logAnalytics = kqlValidator(LOG_ANALYTICS_SCHEMAS, "LogAnalytics");
  // The first analysis initialises the built-in function tables (close to a second); do it here.
  logAnalytics("AuditLogs | where TimeGenerated > ago(1h) | take 1");
}

/** Analyses `query` against SigninLogs, AADNonInteractiveUserSignInLogs, AuditLogs and CloudAppEvents (see kqlValidator). */
export function validateKql(query: string): string[] {
  loadKusto();
  return logAnalytics!(query);
}
