// One error type for everything the store refuses, with a code callers can map to API
// statuses, and a message that names the record and field at fault.

export type StoreErrorCode =
  /** A unique field already holds this value. */
  | 'conflict'
  /** The record to update or delete does not exist. */
  | 'not_found'
  /** The record is still referenced (a user who owns nodes). */
  | 'in_use'
  /** A reference points at a record that does not exist. */
  | 'invalid_reference'
  /** A migration could not be applied, or the database's history disagrees with ours. */
  | 'migration'
  /** The database holds a schema this server did not make (headscale's, another program's). */
  | 'unrecognised';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown; field?: string },
  ) {
    super(message, options);
    this.field = options?.field;
  }
  /** For 'conflict': the unique column at fault, as "<table>.<column>" when known. */
  readonly field: string | undefined;
}
