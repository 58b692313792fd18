/**
 * Resolver: a host name to every address it resolves to (A and AAAA).
 *
 * Contract: returns at least one address or throws NameResolutionError. An IP literal resolves to
 * itself. Order is stable (sorted) so that observations compare across sweeps.
 */
export class NameResolutionError extends Error {
  constructor(
    readonly host: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'NameResolutionError';
  }
}

export interface Resolver {
  resolve(host: string, options?: { abortSignal?: AbortSignal }): Promise<string[]>;
}
