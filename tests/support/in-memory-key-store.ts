import type { KeyStore } from '../../shared/ports/key-store';

/** Our own port, so an in-memory fake is honest: it records every write. */
export class InMemoryKeyStore implements KeyStore {
  readonly values = new Map<string, string>();
  readonly puts: string[] = [];

  async put(tenantId: string, name: string, secretPem: string): Promise<void> {
    this.puts.push(`${tenantId}/${name}`);
    this.values.set(`${tenantId}/${name}`, secretPem);
  }

  async get(tenantId: string, name: string): Promise<string | null> {
    return this.values.get(`${tenantId}/${name}`) ?? null;
  }

  async delete(tenantId: string, name: string): Promise<void> {
    this.values.delete(`${tenantId}/${name}`);
  }
}
