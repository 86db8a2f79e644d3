// The Function App on the Flex Consumption plan, Node.js 22, running as the user-assigned
// identity: the deployment package comes from a blob container read with that identity,
// and every app setting comes from main.bicep (where test/infra/settings.test.ts reads it).
// siteConfig carries only the settings, as in the official Flex Consumption templates.

param name string
param location string
param tags object
param planId string
param identityId string
param deploymentContainerUrl string
@allowed([512, 2048, 4096])
param instanceMemoryMB int
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int
param appSettings array

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: planId
    httpsOnly: true
    siteConfig: {
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
