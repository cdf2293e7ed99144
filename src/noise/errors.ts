/** Machine-readable reasons a Noise operation failed. */
export type NoiseErrorCode =
  | 'BAD_KEY'
  | 'BAD_LENGTH'
  | 'BAD_TYPE'
  | 'BAD_VERSION'
  | 'DECRYPT_FAILED'
  | 'RECORD_TOO_LARGE'
  | 'TRUNCATED'
  | 'CIPHER_EXHAUSTED'
  | 'PEER_ERROR'
  | 'BAD_EARLY_PAYLOAD'
  | 'STATE';

/**
 * Every failure in src/noise is a NoiseError so callers can tell protocol
 * problems (answer 400, drop the connection) from programming errors.
 */
export class NoiseError extends Error {
  readonly code: NoiseErrorCode;

  constructor(code: NoiseErrorCode, message: string) {
    super(message);
    this.name = 'NoiseError';
    this.code = code;
  }
}

export function isNoiseError(err: unknown): err is NoiseError {
  return err instanceof NoiseError;
}
