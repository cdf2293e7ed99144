// The admin REST API's public surface.
export { createApiHandler, type ApiDeps, type ApiHandler } from './handler.js';
export { ApiKeyService, normalizePrefix, type ApiKeyRef, type CreatedApiKey } from './apikeys.js';
export type { PolicyDocument, PolicyService } from './policy.js';
export { type NodeJson, type PreAuthKeyJson, type UserJson, type ApiKeyJson } from './shapes.js';
