/** The stored data was written in a layout this build cannot read; the server must stop rather than guess. */
export class StorageLayoutError extends Error {
  constructor(readonly location: string, reason: string) {
    super(`cannot use the data in ${location}: ${reason}. Use a data directory written by a compatible Berth version, or a new one.`);
    this.name = 'StorageLayoutError';
  }
}

/** Content asked for by digest or upload id does not exist in the store. */
export class ContentNotFoundError extends Error {
  constructor(readonly what: string) {
    super(`content not found: ${what}`);
    this.name = 'ContentNotFoundError';
  }
}

/**
 * Something valid that this storage technology cannot hold (a DynamoDB transaction or item
 * limit): the registry refuses it with the message rather than failing with a 500.
 */
export class StorageLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageLimitError';
  }
}
