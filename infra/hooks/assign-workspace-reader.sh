#!/usr/bin/env bash
# azd postprovision hook: gives tokenwatch's managed identity Log Analytics Reader on the
# tenant's Log Analytics workspace, which may live in another subscription.
#
# The role assignment is made here, with the Azure CLI, rather than by a Bicep module
# deployed into the workspace's resource group: a module there would need
# Microsoft.Resources/deployments/write on that group, which the roles that may assign
# roles (User Access Administrator, Role Based Access Control Administrator) do not grant.
# This script needs only Microsoft.Authorization/roleAssignments/write on the workspace,
# and nothing at all when the assignment already exists (a security team may make it).
#
# Reads, from the azd environment (azd passes it to hooks as environment variables):
#   TOKENWATCH_WORKSPACE_RESOURCE_ID   the workspace's resource id (set by you)
#   TOKENWATCH_IDENTITY_PRINCIPAL_ID   the identity's object id (an output of infra/main.bicep)
# Idempotent: an existing assignment is left as it is.
set -euo pipefail

LOG_ANALYTICS_READER="73c42c96-874c-492b-b04d-ab87d138a893"

die() { echo "assign-workspace-reader: $*" >&2; exit 1; }

workspace="${TOKENWATCH_WORKSPACE_RESOURCE_ID:-}"
principal="${TOKENWATCH_IDENTITY_PRINCIPAL_ID:-}"
[[ -n "$workspace" ]] || die "TOKENWATCH_WORKSPACE_RESOURCE_ID is not set (azd env set TOKENWATCH_WORKSPACE_RESOURCE_ID <workspace resource id>)"
[[ -n "$principal" ]] || die "TOKENWATCH_IDENTITY_PRINCIPAL_ID is not set: run azd provision first"
command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is required"
command -v node >/dev/null 2>&1 || die "node is required"
az account show >/dev/null 2>&1 || die "the Azure CLI is not signed in: az login (azd and az keep separate sign-ins)"

# az's stderr apart from its JSON (warnings go there even when a command succeeds).
err=$(mktemp)
trap 'rm -f "$err"' EXIT

# The command a workspace owner can run instead, printed whenever this script cannot finish.
by_hand="az role assignment create --assignee-object-id $principal --assignee-principal-type ServicePrincipal --role $LOG_ANALYTICS_READER --scope $workspace"

# Listing needs only read access to role assignments (any Reader of the workspace has it).
# Inherited assignments count: Log Analytics Reader on the group or subscription is enough.
if ! assignments=$(az role assignment list --scope "$workspace" --role "$LOG_ANALYTICS_READER" --include-inherited -o json 2>"$err"); then
  die "cannot read the role assignments on $workspace:
$(cat "$err")
Check the workspace resource id and that you can read it, or ask its owner to run:
  $by_hand"
fi
existing=$(node -e 'const [list, p] = [JSON.parse(process.argv[1]), process.argv[2]]; process.stdout.write(list.filter((a) => a.principalId === p).map((a) => a.scope).join(" "))' "$assignments" "$principal")
if [[ -n "$existing" ]]; then
  echo "Log Analytics Reader: the identity $principal already has it (at $existing)"
  exit 0
fi

if ! az role assignment create --assignee-object-id "$principal" --assignee-principal-type ServicePrincipal \
  --role "$LOG_ANALYTICS_READER" --scope "$workspace" -o json >/dev/null 2>"$err"; then
  output=$(cat "$err")
  if [[ "$output" == *RoleAssignmentExists* ]]; then
    echo "Log Analytics Reader: the identity $principal already has it (at $workspace)"
    exit 0
  fi
  if [[ "$output" == *AuthorizationFailed* ]]; then
    die "you may not assign roles on the workspace $workspace.
tokenwatch's identity needs Log Analytics Reader there to run its detection queries. Either
  - get Microsoft.Authorization/roleAssignments/write on the workspace (Owner, User Access
    Administrator or Role Based Access Control Administrator, at the workspace, its resource
    group or its subscription) and run azd provision again, or
  - ask the workspace's owner to run, once:
      $by_hand
Until then the detection timers fail with 403 and GET /api/rules shows every rule failing."
  fi
  die "az role assignment create failed:
$output"
fi
echo "Log Analytics Reader: assigned to the identity $principal at $workspace"
