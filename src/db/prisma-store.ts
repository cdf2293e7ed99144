// The Store over either generated Prisma client (through the common Db shape).
// Backend differences (opening, pragmas, migrations) stay in sqlite.ts / postgres.ts.

import type { ApiKeyRecord, AuditEventRecord, NodeRecord, PreAuthKeyRecord, TailnetSnapshot, UserRecord } from '../state/model.js';
import type { ImportedTailnet, NewApiKey, NewAuditEvent, NewNode, NewPreAuthKey, NewUser, Store } from './store.js';
import type { AuditEventRow, Db, DbModels } from './db.js';
import type { Prisma } from './generated/sqlite/client.js';
import { StoreError } from './errors.js';
import { translateError } from './prisma-errors.js';
import { KeyedLock } from '../util/keyedlock.js';
import {
  apiKeyFromRow, apiKeyToData, nodeFromRow, nodeToData, preAuthKeyFromRow, preAuthKeyToData, userFromRow, userToData,
} from './rows.js';

/** Rows per INSERT during an import: well under SQLite's and PostgreSQL's bound-parameter limits. */
const IMPORT_BATCH = 200;
/**
 * Most node writes committed together. Small on purpose: every caller of a group waits for
 * all of it, and its nodeAdded events reach the sessions as one batch (at 10,000 nodes a
 * group of 128 joins made one dispatch of ~12,800 deltas that held the loop for seconds).
 */
export const MAX_GROUP = 16;

/** A node write waiting for its group's transaction. */
interface GroupedWrite {
  what: string;
  op: (db: DbModels) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface Backend {
  kind: 'sqlite' | 'postgres';
  db: Db;
  migrate(log?: (msg: string) => void): Promise<void>;
  /**
   * Transaction options under which several SELECTs see one snapshot. PostgreSQL needs
   * REPEATABLE READ for that; a SQLite read transaction is a snapshot already (and its
   * adapter refuses other isolation levels).
   */
  snapshot?: { isolationLevel: 'RepeatableRead' };
  /** Releases what the backend holds besides the Prisma client. */
  close?(): Promise<void>;
}

export class PrismaStore implements Store {
  readonly kind: string;
  readonly #backend: Backend;
  readonly #db: Db;
  #closed = false;
  /**
   * SQLite: Prisma's adapter runs every query on one connection, so a query issued while a
   * transaction is open joins it (and is undone by its rollback). Every operation therefore
   * takes this lock; PostgreSQL's pool gives a transaction its own connection and needs none.
   */
  readonly #lock: KeyedLock | null;
  /** Node writes waiting to be committed together (group commit). */
  #queue: GroupedWrite[] = [];
  #draining: Promise<void> | null = null;

  constructor(backend: Backend) {
    this.#backend = backend;
    this.kind = backend.kind;
    this.#db = backend.db;
    this.#lock = backend.kind === 'sqlite' ? new KeyedLock() : null;
  }

  #exclusive<T>(op: () => Promise<T>): Promise<T> {
    return this.#lock ? this.#lock.run('', op) : op();
  }

  /** Runs `op`, turning Prisma's errors into StoreErrors that name the `what`. */
  async #run<T>(what: string, op: () => Promise<T>, deleting = false): Promise<T> {
    if (this.#closed) throw new Error(`${this.kind} store is closed`);
    try {
      return await this.#exclusive(op);
    } catch (e) {
      throw translateError(e, what, deleting);
    }
  }

  /**
   * Group commit: node writes that arrive while the database is busy (or in the same turn)
   * are committed in one transaction, so a join storm costs one commit per group instead of
   * one per write. Each caller still gets its own row or error: when the group's
   * transaction fails (one write hit a unique column, say), it rolled back entirely and the
   * writes are run again one by one, so one bad write fails only its own caller.
   */
  #grouped<T>(what: string, op: (db: DbModels) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(`${this.kind} store is closed`));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ what, op, resolve: resolve as (v: unknown) => void, reject });
      this.#draining ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    // Lets the writes of the current turn join the first group.
    await new Promise<void>((r) => setImmediate(r));
    while (this.#queue.length > 0) {
      // The group is taken once the lock is held: writes queued while waiting for it join.
      await this.#exclusive(() => this.#commitGroup(this.#queue.splice(0, MAX_GROUP)));
    }
    this.#draining = null;
  }

  async #commitGroup(group: GroupedWrite[]): Promise<void> {
    if (group.length > 1) {
      let results: unknown[] | null = null;
      try {
        results = await this.#db.$transaction(
          async (tx) => {
            // One statement per write, not one createManyAndReturn for the group's creations:
            // Prisma compiles a query plan per row count, which cost more than it saved.
            const out: unknown[] = [];
            for (const w of group) out.push(await w.op(tx));
            return out;
          },
          { timeout: 60_000, maxWait: 60_000 },
        );
      } catch {
        results = null; // rolled back: nothing of the group was written
      }
      if (results) {
        group.forEach((w, i) => w.resolve(results[i]));
        return;
      }
    }
    for (const w of group) {
      try {
        w.resolve(await w.op(this.#db));
      } catch (e) {
        w.reject(translateError(e, w.what, false));
      }
    }
  }

  migrate(log?: (msg: string) => void): Promise<void> {
    return this.#backend.migrate(log);
  }

  async ping(): Promise<void> {
    await this.#run('ping', () => this.#db.$queryRawUnsafe('SELECT 1'));
  }

  loadAll(): Promise<TailnetSnapshot> {
    // One transaction: a consistent snapshot even while other instances write.
    return this.#run('loading the tailnet', () =>
      this.#db.$transaction(async (tx) => {
        const users = await tx.user.findMany({ orderBy: { id: 'asc' } });
        const nodes = await tx.node.findMany({ orderBy: { id: 'asc' } });
        const keys = await tx.preAuthKey.findMany({ orderBy: { id: 'asc' } });
        return { users: users.map(userFromRow), nodes: nodes.map(nodeFromRow), preAuthKeys: keys.map(preAuthKeyFromRow) };
      }, this.#backend.snapshot),
    );
  }

  loadSome(ids: { users?: number[]; nodes?: number[]; preAuthKeys?: number[] }): Promise<TailnetSnapshot> {
    return this.#run('reading changed records', async () => {
      const some = async <R>(list: number[] | undefined, read: (ids: number[]) => Promise<R[]>) => (list && list.length > 0 ? read(list) : []);
      const users = await some(ids.users, (in_) => this.#db.user.findMany({ where: { id: { in: in_ } } }));
      const nodes = await some(ids.nodes, (in_) => this.#db.node.findMany({ where: { id: { in: in_ } } }));
      const keys = await some(ids.preAuthKeys, (in_) => this.#db.preAuthKey.findMany({ where: { id: { in: in_ } } }));
      return { users: users.map(userFromRow), nodes: nodes.map(nodeFromRow), preAuthKeys: keys.map(preAuthKeyFromRow) };
    });
  }

  createUser(u: NewUser): Promise<UserRecord> {
    return this.#run(`user "${u.name}"`, async () =>
      userFromRow(await this.#db.user.create({ data: userToData(u) as Prisma.UserUncheckedCreateInput })),
    );
  }

  updateUser(id: number, patch: Partial<NewUser>): Promise<UserRecord> {
    return this.#run(`user ${id}`, async () => userFromRow(await this.#db.user.update({ where: { id }, data: userToData(patch) })));
  }

  deleteUser(id: number): Promise<void> {
    return this.#run(`user ${id}`, () =>
      this.#db.$transaction(async (tx: DbModels) => {
        // Write first: on SQLite this takes the write lock at once, so another process
        // cannot slip a node in between the check and the delete (nodes also RESTRICT it).
        await tx.preAuthKey.deleteMany({ where: { userId: id } });
        const nodes = await tx.node.count({ where: { userId: id } });
        if (nodes > 0) throw new StoreError('in_use', `user ${id} still owns ${nodes} node(s); delete or move them first`);
        await tx.user.delete({ where: { id } });
      }),
      true,
    );
  }

  createPreAuthKey(k: NewPreAuthKey): Promise<PreAuthKeyRecord> {
    return this.#run(`pre-auth key "${k.prefix}"`, async () =>
      preAuthKeyFromRow(await this.#db.preAuthKey.create({ data: preAuthKeyToData(k) as Prisma.PreAuthKeyUncheckedCreateInput })),
    );
  }

  updatePreAuthKey(id: number, patch: Partial<NewPreAuthKey>): Promise<PreAuthKeyRecord> {
    return this.#run(`pre-auth key ${id}`, async () =>
      preAuthKeyFromRow(await this.#db.preAuthKey.update({ where: { id }, data: preAuthKeyToData(patch) })),
    );
  }

  async deletePreAuthKey(id: number): Promise<void> {
    // Nodes that registered with it keep existing: their auth_key_id is set to NULL.
    await this.#run(`pre-auth key ${id}`, () => this.#db.preAuthKey.delete({ where: { id } }), true);
  }

  claimPreAuthKey(id: number): Promise<boolean> {
    // One conditional UPDATE: the database decides which caller flips `used`, across every
    // process sharing it. Reusable keys are marked used too (for listings) but always succeed.
    return this.#run(`pre-auth key ${id}`, async () => {
      const { count } = await this.#db.preAuthKey.updateMany({
        where: { id, OR: [{ used: false }, { reusable: true }] },
        data: { used: true },
      });
      return count === 1;
    });
  }

  createNode(n: NewNode): Promise<NodeRecord> {
    const what = `node "${n.givenName}"`;
    // Converted before it is queued: a record the database would refuse never joins a group.
    let data: Prisma.NodeUncheckedCreateInput;
    try {
      data = nodeToData(n) as Prisma.NodeUncheckedCreateInput;
    } catch (e) {
      return Promise.reject(translateError(e, what, false));
    }
    return this.#grouped(what, async (db) => nodeFromRow(await db.node.create({ data })));
  }

  updateNode(id: number, patch: Partial<NewNode>): Promise<NodeRecord> {
    const what = `node ${id}`;
    let data: ReturnType<typeof nodeToData>;
    try {
      data = nodeToData(patch);
    } catch (e) {
      return Promise.reject(translateError(e, what, false));
    }
    return this.#grouped(what, async (db) => nodeFromRow(await db.node.update({ where: { id }, data })));
  }

  async setNodesLastSeen(ids: number[], at: Date): Promise<void> {
    // Chunks keep each statement's parameter list well under SQLite's and PostgreSQL's limits.
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      await this.#run(`last-seen of ${chunk.length} nodes`, () => this.#db.node.updateMany({ where: { id: { in: chunk } }, data: { lastSeen: at } }));
    }
  }

  async deleteNode(id: number): Promise<void> {
    // Nothing references nodes: routes, tags and endpoints live in the row itself.
    await this.#run(`node ${id}`, () => this.#db.node.delete({ where: { id } }), true);
  }

  listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.#run('API keys', async () => (await this.#db.apiKey.findMany({ orderBy: { id: 'asc' } })).map(apiKeyFromRow));
  }

  createApiKey(k: NewApiKey): Promise<ApiKeyRecord> {
    return this.#run(`API key "${k.prefix}"`, async () =>
      apiKeyFromRow(await this.#db.apiKey.create({ data: apiKeyToData(k) as Prisma.ApiKeyUncheckedCreateInput })),
    );
  }

  updateApiKey(id: number, patch: Partial<NewApiKey>): Promise<ApiKeyRecord> {
    return this.#run(`API key ${id}`, async () => apiKeyFromRow(await this.#db.apiKey.update({ where: { id }, data: apiKeyToData(patch) })));
  }

  async deleteApiKey(id: number): Promise<void> {
    await this.#run(`API key ${id}`, () => this.#db.apiKey.delete({ where: { id } }), true);
  }

  getSetting(key: string): Promise<string | null> {
    return this.#run(`setting "${key}"`, async () => (await this.#db.setting.findUnique({ where: { key } }))?.value ?? null);
  }

  async putSetting(key: string, value: string): Promise<void> {
    await this.#run(`setting "${key}"`, () =>
      this.#db.setting.upsert({ where: { key }, create: { key, value }, update: { value } }),
    );
  }

  appendAudit(e: NewAuditEvent): Promise<AuditEventRecord> {
    return this.#run('audit log', async () =>
      auditFromRow(
        await this.#db.auditEvent.create({
          data: { actor: e.actor, action: e.action, target: e.target, detail: JSON.stringify(e.detail) },
        }),
      ),
    );
  }

  listAudit(opts: { limit: number; beforeId?: number; since?: Date }): Promise<AuditEventRecord[]> {
    return this.#run('audit log', async () => {
      const where = {
        ...(opts.beforeId !== undefined ? { id: { lt: opts.beforeId } } : {}),
        ...(opts.since ? { createdAt: { gte: opts.since } } : {}),
      };
      const rows = await this.#db.auditEvent.findMany({ where, orderBy: { id: 'desc' }, take: opts.limit });
      return rows.map(auditFromRow);
    });
  }

  importTailnet(t: ImportedTailnet, opts: { replace: boolean; progress?: (msg: string) => void }): Promise<void> {
    const progress = opts.progress ?? (() => {});
    const settingKeys = t.settings.map((x) => x.key);
    return this.#run('importing the tailnet', () =>
      this.#db.$transaction(
        async (tx) => {
          // Writes first when replacing, so SQLite takes its write lock before anything is read.
          if (opts.replace) {
            await tx.node.deleteMany({ where: {} });
            await tx.preAuthKey.deleteMany({ where: {} });
            await tx.user.deleteMany({ where: {} });
            await tx.apiKey.deleteMany({ where: {} });
            await tx.setting.deleteMany({ where: { key: { in: settingKeys } } });
          } else {
            const held = [
              ['users', await tx.user.count()],
              ['nodes', await tx.node.count()],
              ['pre-auth keys', await tx.preAuthKey.count()],
              ['API keys', await tx.apiKey.count()],
              ['settings', await tx.setting.count({ where: { key: { in: settingKeys } } })],
            ] as const;
            const nonEmpty = held.filter(([, n]) => n > 0);
            if (nonEmpty.length > 0) {
              throw new StoreError(
                'in_use',
                `the target database is not empty (${nonEmpty.map(([w, n]) => `${n} ${w}`).join(', ')}); import again with --replace to overwrite its tailnet`,
              );
            }
          }
          const batches = async <R>(what: string, rows: R[], write: (chunk: R[]) => Promise<unknown>) => {
            for (let i = 0; i < rows.length; i += IMPORT_BATCH) {
              await write(rows.slice(i, i + IMPORT_BATCH));
              progress(`${what}: ${Math.min(i + IMPORT_BATCH, rows.length)}/${rows.length}`);
            }
          };
          await batches('users', t.users, (c) =>
            tx.user.createMany({ data: c.map((u) => ({ ...userToData(u), id: u.id, createdAt: u.createdAt, updatedAt: u.updatedAt }) as Prisma.UserUncheckedCreateInput) }),
          );
          await batches('pre-auth keys', t.preAuthKeys, (c) =>
            tx.preAuthKey.createMany({ data: c.map((k) => ({ ...preAuthKeyToData(k), id: k.id, createdAt: k.createdAt }) as Prisma.PreAuthKeyUncheckedCreateInput) }),
          );
          await batches('nodes', t.nodes, (c) =>
            tx.node.createMany({ data: c.map((n) => ({ ...nodeToData(n), id: n.id, createdAt: n.createdAt, updatedAt: n.updatedAt }) as Prisma.NodeUncheckedCreateInput) }),
          );
          await batches('API keys', t.apiKeys, (c) =>
            tx.apiKey.createMany({ data: c.map((k) => ({ ...apiKeyToData(k), id: k.id, createdAt: k.createdAt }) as Prisma.ApiKeyUncheckedCreateInput) }),
          );
          for (const x of t.settings) await tx.setting.create({ data: { key: x.key, value: x.value } });
          if (this.kind === 'postgres') {
            // Rows came with their ids; the next id each table hands out must follow them.
            for (const table of ['users', 'pre_auth_keys', 'nodes', 'api_keys']) {
              await tx.$queryRawUnsafe(
                `SELECT setval(pg_get_serial_sequence('"${table}"', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM "${table}"), false)`,
              );
            }
          }
        },
        // A large tailnet over a slow link takes longer than Prisma's 5 s default.
        { timeout: 30 * 60_000, maxWait: 60_000 },
      ),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Writes already accepted are committed (or fail their callers) before the client goes.
    await this.#draining;
    this.#closed = true;
    await this.#db.$disconnect();
    await this.#backend.close?.();
  }
}

function auditFromRow(r: AuditEventRow): AuditEventRecord {
  let detail: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(r.detail);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) detail = parsed as Record<string, unknown>;
  } catch {
    // A hand-edited row: show it without its detail rather than fail the listing.
  }
  return { id: r.id, createdAt: r.createdAt, actor: r.actor, action: r.action, target: r.target, detail };
}
