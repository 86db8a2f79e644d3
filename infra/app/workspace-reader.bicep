// The tenant's existing Log Analytics workspace (the one Entra ID sign-in and audit logs
// flow into; any subscription or resource group): the app's identity gets Log Analytics
// Reader on it, and the app gets its workspace id (customerId) for LogsQueryClient.
// Deployed at the workspace's resource group; the deployer needs the right to assign roles
// there (Owner, User Access Administrator or Role Based Access Control Administrator).

param workspaceName string
param principalId string

var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, logAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output customerId string = workspace.properties.customerId
