#!/usr/bin/env bash
# Registers tokenwatch's HTTP API in Microsoft Entra ID and assigns its app roles.
#
#   infra/register-api-app.sh register [display-name]
#       Creates (or updates) the app registration "tokenwatch-api-<azd env>" with
#       - app roles Incidents.Read, Incidents.Write, Tokenwatch.Admin (users and applications),
#       - Application ID URI api://<appId> and v2 access tokens,
#       - a delegated scope access_as_user, pre-authorized for the Azure CLI so analysts can
#         get a token with `az account get-access-token --scope api://<appId>/access_as_user`,
#       and its service principal with assignment required (only assigned principals get
#       tokens). Prints the audience and, inside an azd project, stores it as
#       TOKENWATCH_API_AUDIENCE for `azd up`.
#   infra/register-api-app.sh assign <user-UPN | client-app-id> <role> [display-name]
#       Grants an app role to a user (by UPN) or to a client application (by its appId).
#   infra/register-api-app.sh console <app-url> [display-name]
#       Adds <app-url>/api/console/ (the web console) as a single-page-application redirect
#       URI, so the console signs in with the authorization code flow and PKCE.
#
# Needs the Azure CLI signed in as someone allowed to create applications (Application
# Developer, or the tenant lets users register apps) and, for `assign`, to assign app roles
# (owner of the service principal, or Cloud Application Administrator). Idempotent: a
# second `register` keeps the existing ids.
set -euo pipefail

ROLES=("Incidents.Read" "Incidents.Write" "Tokenwatch.Admin")
ROLE_DESCRIPTIONS=(
  "Read incidents, alerts and accounts"
  "Read incidents and change their status, assignment and comments"
  "Administer allowlists, webhooks and rule backfills"
)
SCOPE="access_as_user"
AZURE_CLI_APP_ID="04b07795-8ddb-461a-bbee-02f9e1bf7b46"
GRAPH="https://graph.microsoft.com/v1.0"

die() { echo "register-api-app: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required"; }
need az
need node

default_name() {
  local env_name=""
  if command -v azd >/dev/null 2>&1; then env_name=$(azd env get-value AZURE_ENV_NAME 2>/dev/null || true); fi
  echo "tokenwatch-api${env_name:+-$env_name}"
}

uuid() { node -e 'process.stdout.write(require("node:crypto").randomUUID())'; }

# JSON helpers in Node (always present: tokenwatch needs it), so no jq dependency.
json() { node -e "$1" "${@:2}"; }

# The application with exactly this display name, as JSON ("" if none). `az ad app list
# --display-name` matches by prefix (Graph's startswith), which would pick up
# "tokenwatch-api-prod-old" for "tokenwatch-api-prod"; an eq filter matches the whole name.
app_object() {
  local odata="${1//\'/\'\'}" apps
  apps=$(az ad app list --filter "displayName eq '$odata'" -o json) || die "cannot list app registrations"
  json '
    const apps = JSON.parse(process.argv[1]);
    if (apps.length > 1) { process.stderr.write(`register-api-app: ${apps.length} app registrations are named ${process.argv[2]}; rename all but one\n`); process.exit(1); }
    process.stdout.write(apps.length ? JSON.stringify(apps[0]) : "");
  ' "$apps" "$1"
}

register() {
  local name="${1:-$(default_name)}"
  az account show >/dev/null 2>&1 || die "sign in first: az login"
  local app
  app=$(app_object "$name")
  if [[ -z "$app" ]]; then
    echo "creating app registration $name"
    az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg >/dev/null
    app=$(app_object "$name")
    [[ -n "$app" ]] || die "the new registration $name is not visible yet; run again in a minute"
  else
    echo "updating app registration $name"
  fi
  local app_id object_id
  app_id=$(json 'const a=JSON.parse(process.argv[1]);process.stdout.write(a.appId)' "$app")
  object_id=$(json 'const a=JSON.parse(process.argv[1]);process.stdout.write(a.id)' "$app")

  # App roles and the delegated scope, keeping the ids of those that already exist.
  local body
  body=$(json '
    const [app, names, descriptions, scope, newIds] = [JSON.parse(process.argv[1]), process.argv[2].split(","), process.argv[3].split("|"), process.argv[4], process.argv[5].split(",")];
    const roles = app.appRoles ?? [];
    const appRoles = [...roles.filter((r) => !names.includes(r.value))];
    names.forEach((value, i) => {
      const old = roles.find((r) => r.value === value);
      appRoles.push({ id: old?.id ?? newIds[i], value, displayName: value, description: descriptions[i], allowedMemberTypes: ["User", "Application"], isEnabled: true });
    });
    const scopes = app.api?.oauth2PermissionScopes ?? [];
    const oldScope = scopes.find((s) => s.value === scope);
    const oauth2PermissionScopes = [...scopes.filter((s) => s.value !== scope), {
      id: oldScope?.id ?? newIds[names.length], value: scope, type: "User", isEnabled: true,
      adminConsentDisplayName: "Use tokenwatch as the signed-in user", adminConsentDescription: "Call the tokenwatch API with the signed-in user\u2019s app roles.",
      userConsentDisplayName: "Use tokenwatch as you", userConsentDescription: "Call the tokenwatch API with your app roles.",
    }];
    process.stdout.write(JSON.stringify({
      identifierUris: ["api://" + app.appId],
      appRoles,
      api: { requestedAccessTokenVersion: 2, oauth2PermissionScopes },
    }));
  ' "$app" "$(IFS=,; echo "${ROLES[*]}")" "$(IFS='|'; echo "${ROLE_DESCRIPTIONS[*]}")" "$SCOPE" "$(uuid),$(uuid),$(uuid),$(uuid)")
  az rest --method PATCH --uri "$GRAPH/applications/$object_id" --headers "Content-Type=application/json" --body "$body" >/dev/null

  # Pre-authorize the Azure CLI for the scope (a second PATCH: the scope must exist first).
  local scope_id
  scope_id=$(az ad app show --id "$app_id" --query "api.oauth2PermissionScopes[?value=='$SCOPE'].id | [0]" -o tsv)
  az rest --method PATCH --uri "$GRAPH/applications/$object_id" --headers "Content-Type=application/json" \
    --body "{\"api\":{\"preAuthorizedApplications\":[{\"appId\":\"$AZURE_CLI_APP_ID\",\"delegatedPermissionIds\":[\"$scope_id\"]}]}}" >/dev/null

  # The service principal (enterprise application); tokens only for assigned principals.
  if [[ -z "$(az ad sp list --filter "appId eq '$app_id'" --query "[0].id" -o tsv)" ]]; then
    az ad sp create --id "$app_id" >/dev/null
  fi
  local sp_id
  sp_id=$(az ad sp list --filter "appId eq '$app_id'" --query "[0].id" -o tsv)
  az rest --method PATCH --uri "$GRAPH/servicePrincipals/$sp_id" --headers "Content-Type=application/json" --body '{"appRoleAssignmentRequired":true}' >/dev/null

  # v2 tokens carry the client id as aud, v1 tokens the Application ID URI: accept both.
  local audience="api://$app_id,$app_id"
  echo "app registration: $name (appId $app_id)"
  echo "TOKENWATCH_API_AUDIENCE=$audience"
  if command -v azd >/dev/null 2>&1 && azd env get-values >/dev/null 2>&1; then
    azd env set TOKENWATCH_API_AUDIENCE "$audience" >/dev/null
    echo "stored in the azd environment; run azd up (or azd provision) to apply it"
  fi
}

assign() {
  local who="${1:-}" role="${2:-}" name="${3:-$(default_name)}"
  [[ -n "$who" && -n "$role" ]] || die "usage: $0 assign <user-UPN | client-app-id> <role> [display-name]"
  [[ " ${ROLES[*]} " == *" $role "* ]] || die "role must be one of: ${ROLES[*]}"
  local app_id sp_id role_id principal_id
  local app
  app=$(app_object "$name")
  [[ -n "$app" ]] || die "no app registration named $name: run $0 register first"
  app_id=$(json 'process.stdout.write(JSON.parse(process.argv[1]).appId)' "$app")
  sp_id=$(az ad sp list --filter "appId eq '$app_id'" --query "[0].id" -o tsv)
  role_id=$(az ad sp show --id "$sp_id" --query "appRoles[?value=='$role'].id | [0]" -o tsv)
  if [[ "$who" == *@* ]]; then
    principal_id=$(az ad user show --id "$who" --query id -o tsv)
  else
    principal_id=$(az ad sp list --filter "appId eq '$who'" --query "[0].id" -o tsv)
    [[ -n "$principal_id" ]] || die "no service principal for client app $who (az ad sp create --id $who)"
  fi
  az rest --method POST --uri "$GRAPH/servicePrincipals/$sp_id/appRoleAssignedTo" --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal_id\",\"resourceId\":\"$sp_id\",\"appRoleId\":\"$role_id\"}" >/dev/null
  echo "assigned $role to $who"
}

spa_redirect() {
  local url="${1:-}" name="${2:-$(default_name)}"
  [[ "$url" =~ ^https://[^/]+$ || "$url" =~ ^http://(localhost|127\.0\.0\.1)(:[0-9]+)?$ ]] || die "usage: $0 console <https://app-host> [display-name] (no path)"
  local app object_id body
  app=$(app_object "$name")
  [[ -n "$app" ]] || die "no app registration named $name: run $0 register first"
  object_id=$(json 'const a=JSON.parse(process.argv[1]);process.stdout.write(a.id)' "$app")
  body=$(json '
    const [app, uri] = [JSON.parse(process.argv[1]), process.argv[2]];
    const uris = app.spa?.redirectUris ?? [];
    process.stdout.write(JSON.stringify({ spa: { redirectUris: uris.includes(uri) ? uris : [...uris, uri] } }));
  ' "$app" "$url/api/console/")
  az rest --method PATCH --uri "$GRAPH/applications/$object_id" --headers "Content-Type=application/json" --body "$body" >/dev/null
  echo "web console sign-in: SPA redirect URI $url/api/console/"
}

case "${1:-}" in
  register) shift; register "$@" ;;
  assign) shift; assign "$@" ;;
  console) shift; spa_redirect "$@" ;;
  *) die "usage: $0 register [display-name] | $0 assign <user-UPN | client-app-id> <role> [display-name] | $0 console <app-url> [display-name]" ;;
esac
