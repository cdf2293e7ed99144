// The admin REST API's public surface.
export { apiRoutes, isApiPath, mountApi, API_PREFIX, type ApiDeps, type ApiPluginOptions } from './handler.js';
export { ApiKeyService, normalizePrefix, type ApiKeyRef, type CreatedApiKey } from './apikeys.js';
export type { PolicyDocument, PolicyService } from './policy.js';
export { type NodeJson, type PreAuthKeyJson, type UserJson, type ApiKeyJson } from './shapes.js';
