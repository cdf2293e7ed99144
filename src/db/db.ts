// The slice of a Prisma client the store uses, in our own words. The SQLite and PostgreSQL
// clients are generated from the same models but their TypeScript types are not mutually
// assignable (isolation levels, aggregate), so both are cast to this one shape; the
// argument and row types come from the SQLite client, which is the source schema.

import type { Prisma } from './generated/sqlite/client.js';

export type UserRow = Prisma.UserModel;
export type PreAuthKeyRow = Prisma.PreAuthKeyModel;
export type NodeRow = Prisma.NodeModel;
export type ApiKeyRow = Prisma.ApiKeyModel;
export type SettingRow = Prisma.SettingModel;
export type AuditEventRow = Prisma.AuditEventModel;

interface Delegate<Row, Where, WhereUnique, Create, Update, OrderBy> {
  findMany(args?: { where?: Where; orderBy?: OrderBy | OrderBy[]; take?: number }): Promise<Row[]>;
  findUnique(args: { where: WhereUnique }): Promise<Row | null>;
  create(args: { data: Create }): Promise<Row>;
  createMany(args: { data: Create[] }): Promise<{ count: number }>;
  update(args: { where: WhereUnique; data: Update }): Promise<Row>;
  upsert(args: { where: WhereUnique; create: Create; update: Update }): Promise<Row>;
  delete(args: { where: WhereUnique }): Promise<Row>;
  updateMany(args: { where: Where; data: Update }): Promise<{ count: number }>;
  deleteMany(args: { where: Where }): Promise<{ count: number }>;
  count(args?: { where?: Where }): Promise<number>;
}

export interface DbModels {
  user: Delegate<UserRow, Prisma.UserWhereInput, Prisma.UserWhereUniqueInput,
    Prisma.UserUncheckedCreateInput, Prisma.UserUncheckedUpdateInput, Prisma.UserOrderByWithRelationInput>;
  preAuthKey: Delegate<PreAuthKeyRow, Prisma.PreAuthKeyWhereInput, Prisma.PreAuthKeyWhereUniqueInput,
    Prisma.PreAuthKeyUncheckedCreateInput, Prisma.PreAuthKeyUncheckedUpdateInput, Prisma.PreAuthKeyOrderByWithRelationInput>;
  node: Delegate<NodeRow, Prisma.NodeWhereInput, Prisma.NodeWhereUniqueInput,
    Prisma.NodeUncheckedCreateInput, Prisma.NodeUncheckedUpdateInput, Prisma.NodeOrderByWithRelationInput>;
  apiKey: Delegate<ApiKeyRow, Prisma.ApiKeyWhereInput, Prisma.ApiKeyWhereUniqueInput,
    Prisma.ApiKeyUncheckedCreateInput, Prisma.ApiKeyUncheckedUpdateInput, Prisma.ApiKeyOrderByWithRelationInput>;
  setting: Delegate<SettingRow, Prisma.SettingWhereInput, Prisma.SettingWhereUniqueInput,
    Prisma.SettingUncheckedCreateInput, Prisma.SettingUncheckedUpdateInput, Prisma.SettingOrderByWithRelationInput>;
  auditEvent: Delegate<AuditEventRow, Prisma.AuditEventWhereInput, Prisma.AuditEventWhereUniqueInput,
    Prisma.AuditEventUncheckedCreateInput, Prisma.AuditEventUncheckedUpdateInput, Prisma.AuditEventOrderByWithRelationInput>;
}

interface RawQueries {
  $queryRawUnsafe<T = unknown>(sql: string, ...values: unknown[]): Promise<T>;
}

export interface Db extends DbModels {
  /** Interactive transaction: everything `fn` does through `tx` commits or rolls back together. */
  $transaction<T>(
    fn: (tx: DbModels & RawQueries) => Promise<T>,
    options?: { isolationLevel?: 'RepeatableRead'; timeout?: number; maxWait?: number },
  ): Promise<T>;
  $queryRawUnsafe<T = unknown>(sql: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(sql: string, ...values: unknown[]): Promise<number>;
  $disconnect(): Promise<void>;
}
