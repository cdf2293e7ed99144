// Which headscale schema a database has. headscale records its migrations (gormigrate) in
// the `migrations` table by id; a database made fresh by headscale 0.26+ starts with
// "SCHEMA_INIT" and records only the later ids. An id we do not know means a release newer
// than this importer (its columns may mean something else): refused by name.

/** Every migration id of headscale 0.23 through 0.29 and main as of 2026-06. */
export const KNOWN_MIGRATIONS: readonly string[] = [
  // 0.23 - 0.24
  '202312101416', '202312101430', '202402151347', '2024041121742', '202406021630', '202409271400',
  '202407191627', '202408181235',
  // 0.25 - 0.26
  '202501221827', '202501311657', '202502070949', '202502131714', '202502171819', '202505091439', '202505141324',
  // 0.27 - 0.28
  '202507021200', '202510311551', '202511101554-drop-old-idx', '202511011637-preauthkey-bcrypt',
  '202511122344-remove-newline-index', '202511131445-node-forced-tags-to-tags', '202601121700-migrate-hostinfo-request-tags',
  // 0.29
  '202602201200-clear-tagged-node-user-id', '202605221435-clear-zero-time-node-expiry',
  '202606181200-recover-null-tags-node-user-id', '202607241200-clear-tagged-node-expiry',
  // main (0.30 development): API key owner, key description and revocation, OAuth clients
  '202606191500-api-key-user-id', '202606191501-pre-auth-key-description', '202606201200-pre-auth-key-revoked',
  '202606211200-oauth-clients-and-tokens',
];

/** Recorded by gormigrate when headscale created the schema in one step. */
export const SCHEMA_INIT = 'SCHEMA_INIT';

/** Where 0.23 starts: the migration that split ip_addresses into ipv4/ipv6. */
const OLDEST_NEEDED = '2024041121742';

export interface SchemaVersion {
  migrations: string[];
  /** The newest known migration id applied, for the plan. */
  newest: string;
}

/** Throws, naming the id or what is missing, when the schema is not one we can read. */
export function checkSchemaVersion(tables: string[], migrations: string[], dbVersion: string | null): SchemaVersion {
  if (!tables.includes('migrations')) {
    throw new Error('no `migrations` table: this is not a headscale database (or one older than 0.23)');
  }
  for (const t of ['users', 'nodes']) {
    if (!tables.includes(t)) throw new Error(`no \`${t}\` table: this is not a headscale database`);
  }
  const known = new Set(KNOWN_MIGRATIONS);
  const unknown = migrations.filter((m) => m !== SCHEMA_INIT && !known.has(m));
  if (unknown.length > 0) {
    throw new Error(
      `unknown headscale schema version: migration ${unknown.map((m) => JSON.stringify(m)).join(', ')} in table migrations` +
        `${dbVersion ? ` (database_versions says ${dbVersion})` : ''} is newer than this importer knows; ` +
        'import with a newer switchboard, or from a headscale release up to 0.29',
    );
  }
  if (!migrations.includes(SCHEMA_INIT) && !migrations.includes(OLDEST_NEEDED)) {
    throw new Error(
      `headscale schema older than 0.23 (table migrations lacks ${OLDEST_NEEDED}); upgrade headscale to 0.23 or newer, start it once, then import`,
    );
  }
  const applied = KNOWN_MIGRATIONS.filter((m) => migrations.includes(m));
  return { migrations, newest: applied[applied.length - 1] ?? SCHEMA_INIT };
}
