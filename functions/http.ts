// HTTP functions: one registration per route group, all answered by the app's API. authLevel
// is anonymous because the app validates Entra ID bearer tokens itself (src/api/auth.ts);
// routing, 404/405 and roles are the API's.
import { app, type HttpMethod } from "@azure/functions";
import { functionsApp } from "../src/app.js";

const tokenwatch = functionsApp();
const methods: HttpMethod[] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const group = (name: string, route: string) => app.http(name, { methods, route, authLevel: "anonymous", handler: (request) => tokenwatch.handleFetch(request) });

group("apiHealth", "health");
group("apiOpenApi", "openapi.json");
group("apiIncidents", "incidents/{*rest}");
group("apiAccounts", "accounts/{*rest}");
group("apiAllowlists", "allowlists/{*rest}");
group("apiRules", "rules/{*rest}");
group("apiWebhooks", "webhooks/{*rest}");
group("apiConsole", "console/{*rest}");
