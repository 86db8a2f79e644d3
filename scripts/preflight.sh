#!/usr/bin/env bash
# Checks, with the Azure CLI, that the signed-in account has what `azd up` for tokenwatch
# needs (docs/deploy.md, "Permissions you need"), before anything is created:
#   1. on the app's subscription: create the resource group, its resources and their roles;
#   2. on the tenant's Log Analytics workspace (any subscription): read it, and assign Log
#      Analytics Reader to the app's identity (or that assignment exists already);
#   3. in Entra ID: register the API's application (or it is registered already).
#
#   scripts/preflight.sh
#
# Reads AZURE_SUBSCRIPTION_ID, TOKENWATCH_WORKSPACE_RESOURCE_ID, TOKENWATCH_API_AUDIENCE and
# TOKENWATCH_IDENTITY_PRINCIPAL_ID from the environment, else from the azd environment, and
# the subscription from `az account show` when none is set.
#
# Each line is "ok", "MISSING" (you lack it: the line says what to get) or "UNKNOWN" (it could
# not be checked: the line says why; check it by hand). Exit status 0 only when every check
# is ok, 1 when something is missing, 2 when something could not be checked.
# Role assignment conditions (as on a delegated Role Based Access Control Administrator) and
# deny assignments are not evaluated: Azure applies them when azd up runs (a condition on
# the subscription is pointed out).
set -uo pipefail

ARM="https://management.azure.com"
GRAPH="https://graph.microsoft.com/v1.0"
PERMISSIONS_API="providers/Microsoft.Authorization/permissions?api-version=2022-04-01"
LOG_ANALYTICS_READER="73c42c96-874c-492b-b04d-ab87d138a893"
# What infra/main.bicep and its modules create, at the app's subscription.
SUBSCRIPTION_ACTIONS=(
  Microsoft.Resources/deployments/write
  Microsoft.Resources/subscriptions/resourceGroups/write
  Microsoft.ManagedIdentity/userAssignedIdentities/write
  Microsoft.Storage/storageAccounts/write
  Microsoft.OperationalInsights/workspaces/write
  Microsoft.Insights/components/write
  Microsoft.Web/serverfarms/write
  Microsoft.Web/sites/write
  Microsoft.Authorization/roleAssignments/write
)
# Entra ID roles that may register applications whatever the tenant's user setting
# (Application Developer, Application Administrator, Cloud Application Administrator,
# Global Administrator), by role template id.
APP_ROLES="cf1c38e5-3621-4004-a7cb-879624dced7c 9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3 158c047a-c907-4556-b7ef-446551a6b5f7 62e90394-69f5-4237-9190-012177145e10"

missing=0
unknown=0
report() { # status, what, detail
  printf '%-8s %s: %s\n' "$1" "$2" "$3"
  case "$1" in MISSING) missing=$((missing + 1)) ;; UNKNOWN) unknown=$((unknown + 1)) ;; esac
}
finish() {
  echo
  if ((missing > 0)); then echo "preflight: $missing missing, $unknown unchecked; see docs/deploy.md, \"Permissions you need\""; exit 1; fi
  if ((unknown > 0)); then echo "preflight: $unknown could not be checked; check them by hand before azd up"; exit 2; fi
  echo "preflight: everything azd up needs is in place"
  exit 0
}
json() { node -e "$1" "${@:2}"; }
setting() { # name -> its value from the environment, else the azd environment
  local value="${!1:-}"
  if [[ -z "$value" ]] && command -v azd >/dev/null 2>&1; then value=$(azd env get-value "$1" 2>/dev/null || true); fi
  echo "$value"
}
err=$(mktemp)
trap 'rm -f "$err"' EXIT
first_line() { head -n 1 "$err" | cut -c 1-300; }

# Which of the actions a set of permissions ({ value: [{ actions, notActions }] }: the answer
# of GET <resource>/providers/Microsoft.Authorization/permissions, or role definitions'
# permissions) does not grant. Wildcards and case as Azure RBAC matches them; an action is
# granted when one entry allows it and that same entry's notActions do not take it away.
not_granted() { # permissions JSON, actions...
  json '
    const entries = JSON.parse(process.argv[1]).value ?? [];
    const pattern = (p) => new RegExp("^" + p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")).join(".*") + "$", "i");
    const grants = (e, a) => (e.actions ?? []).some((p) => pattern(p).test(a)) && !(e.notActions ?? []).some((p) => pattern(p).test(a));
    process.stdout.write(process.argv.slice(2).filter((a) => !entries.some((e) => grants(e, a))).join(" "));
  ' "$@"
}

command -v az >/dev/null 2>&1 || { report MISSING "Azure CLI" "az is not installed (https://aka.ms/azcli)"; finish; }
command -v node >/dev/null 2>&1 || { report MISSING "node" "node is not installed"; finish; }
if ! account=$(az account show -o json 2>"$err"); then
  report MISSING "Azure CLI sign-in" "not signed in: az login (azd and az keep separate sign-ins)"
  finish
fi
who=$(json 'const a = JSON.parse(process.argv[1]); process.stdout.write(`${a.user.name} (${a.user.type})`)' "$account")
user_type=$(json 'process.stdout.write(JSON.parse(process.argv[1]).user.type)' "$account")
report ok "Azure CLI sign-in" "$who"

# 1. The app's subscription: the caller's role assignments there (directly, through groups or
# inherited from above; the assignedTo filter), and what their role definitions allow.
subscription=$(setting AZURE_SUBSCRIPTION_ID)
[[ -n "$subscription" ]] || subscription=$(json 'process.stdout.write(JSON.parse(process.argv[1]).id)' "$account")
subscription_check() {
  local token oid assignments id definition lacking conditional permissions
  local -a definitions=()
  token=$(az account get-access-token -o json 2>"$err") || { report UNKNOWN "subscription $subscription" "cannot get a token: $(first_line)"; return; }
  oid=$(json 'const t = JSON.parse(process.argv[1]).accessToken; process.stdout.write(JSON.parse(Buffer.from(t.split(".")[1], "base64url")).oid ?? "")' "$token")
  assignments=$(az rest --method get --url "$ARM/subscriptions/$subscription/providers/Microsoft.Authorization/roleAssignments?\$filter=assignedTo('$oid')&api-version=2022-04-01" -o json 2>"$err") ||
    { report UNKNOWN "subscription $subscription" "cannot read your role assignments there: $(first_line)"; return; }
  # Only assignments at the subscription or above it apply to everything the deployment creates.
  for id in $(json '
    const sub = process.argv[2].toLowerCase();
    const above = (s) => { s = s.toLowerCase(); return s === "/" || s === sub || s.startsWith("/providers/microsoft.management/managementgroups/"); };
    const ids = (JSON.parse(process.argv[1]).value ?? []).filter((a) => above(a.properties.scope)).map((a) => a.properties.roleDefinitionId);
    process.stdout.write([...new Set(ids)].join(" "));
  ' "$assignments" "/subscriptions/$subscription"); do
    definition=$(az rest --method get --url "$ARM$id?api-version=2022-04-01" -o json 2>"$err") ||
      { report UNKNOWN "subscription $subscription" "cannot read the role definition $id: $(first_line)"; return; }
    definitions+=("$definition")
  done
  # The permissions of every role held, as one permissions answer, to match the actions against.
  permissions=$(json 'process.stdout.write(JSON.stringify({ value: process.argv.slice(1).flatMap((d) => JSON.parse(d).properties.permissions ?? []) }))' "${definitions[@]}")
  lacking=$(not_granted "$permissions" "${SUBSCRIPTION_ACTIONS[@]}")
  conditional=$(json '
    const sub = process.argv[2].toLowerCase();
    const applies = (a) => { const s = a.properties.scope.toLowerCase(); return s === "/" || s === sub || s.startsWith("/providers/microsoft.management/managementgroups/"); };
    process.stdout.write((JSON.parse(process.argv[1]).value ?? []).some((a) => applies(a) && a.properties.condition) ? "yes" : "");
  ' "$assignments" "/subscriptions/$subscription")
  if [[ -n "$lacking" ]]; then
    report MISSING "subscription $subscription" "lacks $lacking; get Owner, or Contributor plus Role Based Access Control Administrator (or User Access Administrator), on the subscription"
  elif [[ -n "$conditional" ]]; then
    report ok "subscription $subscription" "can create the resource group, its resources and their role assignments (one of your assignments has a condition, which is not evaluated here: it must allow Storage Blob Data Owner, Storage Queue Data Contributor, Storage Table Data Contributor and Monitoring Metrics Publisher)"
  else
    report ok "subscription $subscription" "can create the resource group, its resources and their role assignments"
  fi
}
subscription_check

# 2. The tenant's Log Analytics workspace.
workspace=$(setting TOKENWATCH_WORKSPACE_RESOURCE_ID)
workspace_shape='^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.OperationalInsights/workspaces/[^/]+$'
shopt -s nocasematch
if [[ -z "$workspace" ]]; then
  report MISSING "workspace" "TOKENWATCH_WORKSPACE_RESOURCE_ID is not set (azd env set TOKENWATCH_WORKSPACE_RESOURCE_ID /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>)"
elif [[ ! "$workspace" =~ $workspace_shape ]]; then
  report MISSING "workspace" "TOKENWATCH_WORKSPACE_RESOURCE_ID is not a workspace resource id: $workspace"
else
  shopt -u nocasematch
  if resource=$(az resource show --ids "$workspace" -o json 2>"$err"); then
    customer=$(json 'process.stdout.write(JSON.parse(process.argv[1]).properties?.customerId ?? "")' "$resource")
    report ok "workspace read" "$workspace (workspace id $customer)"
  else
    report MISSING "workspace read" "cannot read $workspace, which provisioning reads for its workspace id: $(first_line); get Reader (or Log Analytics Reader) on it"
  fi
  identity=$(setting TOKENWATCH_IDENTITY_PRINCIPAL_ID)
  assigned=""
  if [[ -n "$identity" ]] && assignments=$(az role assignment list --scope "$workspace" --role "$LOG_ANALYTICS_READER" --include-inherited -o json 2>/dev/null); then
    assigned=$(json 'process.stdout.write(JSON.parse(process.argv[1]).some((a) => a.principalId === process.argv[2]) ? "yes" : "")' "$assignments" "$identity")
  fi
  if [[ -n "$assigned" ]]; then
    report ok "workspace role" "the app's identity $identity has Log Analytics Reader already"
  elif permissions=$(az rest --method get --url "$ARM$workspace/$PERMISSIONS_API" -o json 2>"$err"); then
    if [[ -z "$(not_granted "$permissions" Microsoft.Authorization/roleAssignments/write)" ]]; then
      report ok "workspace role" "can assign Log Analytics Reader on the workspace (the postprovision hook does)"
    else
      report MISSING "workspace role" "cannot assign roles on the workspace; get Role Based Access Control Administrator (or User Access Administrator, or Owner) on it, or have its owner assign Log Analytics Reader to the app's identity after azd provision (the hook prints the command)"
    fi
  else
    report UNKNOWN "workspace role" "cannot read your permissions on the workspace: $(first_line)"
  fi
fi
shopt -u nocasematch

# 3. Entra ID: the API's app registration.
audience=$(setting TOKENWATCH_API_AUDIENCE)
if [[ -n "$audience" ]]; then
  report ok "Entra app registration" "registered already (TOKENWATCH_API_AUDIENCE=$audience)"
elif [[ "$user_type" != "user" ]]; then
  report UNKNOWN "Entra app registration" "signed in as a $user_type: a service principal needs the Graph permission Application.ReadWrite.OwnedBy (or an app-registering role); check it by hand"
elif ! policy=$(az rest --method get --url "$GRAPH/policies/authorizationPolicy" -o json 2>"$err"); then
  report UNKNOWN "Entra app registration" "cannot read the tenant's authorization policy: $(first_line)"
elif [[ "$(json 'process.stdout.write(String(JSON.parse(process.argv[1]).defaultUserRolePermissions?.allowedToCreateApps === true))' "$policy")" == "true" ]]; then
  report ok "Entra app registration" "users may register applications in this tenant"
elif ! roles=$(az rest --method get --url "$GRAPH/me/transitiveMemberOf/microsoft.graph.directoryRole" -o json 2>"$err"); then
  report UNKNOWN "Entra app registration" "users may not register applications, and your directory roles cannot be read: $(first_line)"
else
  held=$(json 'const wanted = process.argv[2].split(" "); process.stdout.write((JSON.parse(process.argv[1]).value ?? []).filter((r) => wanted.includes(r.roleTemplateId)).map((r) => r.displayName).join(", "))' "$roles" "$APP_ROLES")
  if [[ -n "$held" ]]; then
    report ok "Entra app registration" "you hold $held"
  else
    report MISSING "Entra app registration" "users may not register applications and you hold no role that may (Application Developer at least; activate it first if it is PIM-eligible), or have an administrator run infra/register-api-app.sh register"
  fi
fi

finish
