// An error meant for the CLI user: printed as is (no stack), exit code 1.
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** Ends the run with `exitCode` after the command has already printed its own output. */
export class ExitWithCode extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitWithCode';
  }
}
