// tokenwatch on Azure Functions Flex Consumption, for `azd up` (see docs/deploy.md).
// Subscription scope, like the official Flex Consumption azd templates: a resource group,
// then modules for the platform (identity, storage, monitoring, plan) and the app, both
// deployed into that group only.
//
// The tenant's Log Analytics workspace (often in a security team's subscription) is only
// read here, as an `existing` resource, for its customer id: nothing is deployed into its
// resource group, so the deployer needs no Microsoft.Resources/deployments/write there and
// `azd down` has no reason to count that group as its own. The app's identity gets Log
// Analytics Reader on it in the azd postprovision hook (infra/hooks/assign-workspace-reader.sh),
// which needs only the right to assign roles on the workspace (docs/deploy.md explains why).
//
// Identity without secrets: the app runs as a user-assigned managed identity; storage,
// App Insights ingestion and Log Analytics queries all use Entra ID tokens for it. No
// account key or instrumentation key appears in any setting.
//
// App settings are listed below, one { name, value } per setting. test/infra/settings.test.ts
// holds this list, src/config.ts and local.settings.sample.json together.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; with the subscription and location it makes the resource names unique.')
param environmentName string

@minLength(1)
@description('Region for every resource; it must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@minLength(1)
@description('Resource id of the existing Log Analytics workspace that receives the Entra ID SigninLogs / AADNonInteractiveUserSignInLogs / AuditLogs: /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>')
param tenantWorkspaceResourceId string

@minLength(1)
@description('TOKENWATCH_AUTH_AUDIENCE: the API app registration\'s application (client) id, as api://<client-id> or <client-id> (each accepts the other; v1 tokens carry the URI, v2 tokens the id). With a custom Application ID URI give both: <uri>,<client-id>. infra/register-api-app.sh prints the value.')
param apiAudience string

@description('Prefix for tokenwatch\'s table names (letters and digits), to share a storage account between deployments; empty for none.')
param tablePrefix string = ''

@allowed([512, 2048, 4096])
@description('Memory of each Flex Consumption instance.')
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
@description('Upper bound on instances the app scales out to; Flex Consumption has documented 40 as the lowest maximum (docs/deploy.md).')
param maximumInstanceCount int = 40

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-tokenwatch-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var workspaceIdParts = split(tenantWorkspaceResourceId, '/')

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module platform 'app/platform.bicep' = {
  name: 'platform-${resourceToken}'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    deploymentContainerName: deploymentContainerName
  }
}

// Read where it lives (any subscription and resource group), never deployed to.
resource tenantWorkspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: last(workspaceIdParts)
  scope: resourceGroup(workspaceIdParts[2], workspaceIdParts[4])
}

module api 'app/function.bicep' = {
  name: 'api-${resourceToken}'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    planId: platform.outputs.planId
    identityId: platform.outputs.identityId
    deploymentContainerUrl: platform.outputs.deploymentContainerUrl
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    appSettings: [
      // Functions host storage, by identity (no connection string, no key).
      {
        name: 'AzureWebJobsStorage__accountName'
        value: platform.outputs.storageAccountName
      }
      {
        name: 'AzureWebJobsStorage__credential'
        value: 'managedidentity'
      }
      {
        name: 'AzureWebJobsStorage__clientId'
        value: platform.outputs.identityClientId
      }
      // Application Insights, ingestion with an Entra ID token for the identity.
      {
        name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
        value: platform.outputs.appInsightsConnectionString
      }
      {
        name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
        value: 'ClientId=${platform.outputs.identityClientId};Authorization=AAD'
      }
      // Node flags for the worker, as src/config.ts WORKER_NODE_ARGUMENTS says why (the tests compare them).
      {
        name: 'languageWorkers__node__arguments'
        value: '--no-opt --v8-pool-size=1'
      }
      // DefaultAzureCredential (Table Storage, Log Analytics) uses the user-assigned identity.
      {
        name: 'AZURE_CLIENT_ID'
        value: platform.outputs.identityClientId
      }
      // tokenwatch (src/config.ts).
      {
        name: 'TOKENWATCH_STORAGE_CONNECTION_STRING'
        value: ''
      }
      {
        name: 'TOKENWATCH_STORAGE_TABLE_ENDPOINT'
        value: platform.outputs.tableEndpoint
      }
      // The shard queue, on the host storage account the shard function's trigger reads.
      {
        name: 'TOKENWATCH_STORAGE_QUEUE_ENDPOINT'
        value: platform.outputs.queueEndpoint
      }
      {
        name: 'TOKENWATCH_SHARD_ROWS'
        value: '10000'
      }
      {
        name: 'TOKENWATCH_TABLE_PREFIX'
        value: tablePrefix
      }
      {
        name: 'TOKENWATCH_WORKSPACE_ID'
        value: tenantWorkspace.properties.customerId
      }
      {
        name: 'TOKENWATCH_LOG_ANALYTICS_ENDPOINT'
        value: ''
      }
      {
        name: 'TOKENWATCH_INGESTION_DELAY_MINUTES'
        value: '5'
      }
      {
        name: 'TOKENWATCH_MAX_LATENESS_HOURS'
        value: '168'
      }
      {
        // Account correlation across rules: hours between alerts of different rules; days a shared SessionId or token identifier links them
        name: 'TOKENWATCH_CORRELATION_WINDOW_HOURS'
        value: '24'
      }
      {
        name: 'TOKENWATCH_CORRELATION_LINK_DAYS'
        value: '14'
      }
      {
        name: 'TOKENWATCH_MAX_WINDOWS_PER_RUN'
        value: '24'
      }
      {
        // How long the forked-session rule remembers where a session was used (days)
        name: 'TOKENWATCH_SESSION_LIFETIME_DAYS'
        value: '14'
      }
      {
        // Retention in days (0 keeps forever): closed incidents with their alerts and history, settled webhook deliveries, allowlist audit
        name: 'TOKENWATCH_RETENTION_CLOSED_INCIDENT_DAYS'
        value: '365'
      }
      {
        name: 'TOKENWATCH_RETENTION_DELIVERY_DAYS'
        value: '30'
      }
      {
        name: 'TOKENWATCH_RETENTION_AUDIT_DAYS'
        value: '730'
      }
      {
        // Rows retention deletes per delivery-worker run (every minute); a backlog goes in later runs
        name: 'TOKENWATCH_RETENTION_MAX_DELETES_PER_RUN'
        value: '500'
      }
      {
        // Rule ids switched off, comma-separated (e.g. the Solorigate rule without Defender XDR's CloudAppEvents)
        name: 'TOKENWATCH_DISABLED_RULES'
        value: ''
      }
      {
        name: 'TOKENWATCH_WEBHOOK_ALLOW_HTTP'
        value: 'false'
      }
      {
        name: 'TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS'
        value: 'false'
      }
      // Incident links in Teams / Slack messages: empty = the app's own host (WEBSITE_HOSTNAME).
      {
        name: 'TOKENWATCH_CONSOLE_URL'
        value: ''
      }
      {
        name: 'TOKENWATCH_AUTH_TENANT_ID'
        value: tenant().tenantId
      }
      {
        name: 'TOKENWATCH_AUTH_AUDIENCE'
        value: apiAudience
      }
      {
        name: 'TOKENWATCH_AUTH_ISSUER'
        value: ''
      }
      {
        name: 'TOKENWATCH_AUTH_JWKS_URL'
        value: ''
      }
      {
        name: 'TOKENWATCH_DEV_MODE'
        value: 'false'
      }
    ]
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = platform.outputs.storageAccountName
output TOKENWATCH_IDENTITY_PRINCIPAL_ID string = platform.outputs.identityPrincipalId
output TOKENWATCH_IDENTITY_CLIENT_ID string = platform.outputs.identityClientId
output APPLICATIONINSIGHTS_CONNECTION_STRING string = platform.outputs.appInsightsConnectionString
