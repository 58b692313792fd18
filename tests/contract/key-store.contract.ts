/**
 * The KeyStore contract (shared/ports/key-store.ts), written once and run against every adapter:
 * `keyStoreContract('SqliteKeyStore', open)`. `open` is called once per test and returns a fresh,
 * empty store; `logs()` returns what the adapter and its client library wrote to their loggers
 * during the test (the harness decides what it captures), checked for leaked values.
 */
import { generateKeyPair } from '../../shared/adapters/local/certificate-factory';
import type { KeyStore } from '../../shared/ports/key-store';

export interface KeyStoreHandle {
  store: KeyStore;
  /** Everything the adapter (and the SDK under it) logged since `open`. */
  logs(): string;
  close(): Promise<void>;
}

/** A real PKCS#8 PEM private key, the kind of value the store holds. */
export async function aPrivateKeyPem(): Promise<string> {
  return (await generateKeyPair('ec-p256')).privateKeyPem;
}

/** The base64 body of a PEM, the part a leak would show even without its armor. */
export function pemBody(pem: string): string {
  return pem.split('\n').slice(1, -2).join('');
}

export function keyStoreContract(adapter: string, open: () => Promise<KeyStoreHandle>): void {
  describe(`${adapter} honours the KeyStore contract`, () => {
    let handle: KeyStoreHandle;
    let pem: string;
    let other: string;
    const consoleOutput: string[] = [];

    beforeAll(async () => {
      pem = await aPrivateKeyPem();
      other = await aPrivateKeyPem();
    });
    beforeEach(async () => {
      consoleOutput.length = 0;
      for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
        jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void consoleOutput.push(args.map(String).join(' ')));
      }
      handle = await open();
    });
    afterEach(async () => {
      jest.restoreAllMocks();
      await handle.close();
    });

    it('When a key is put, then get returns the same PEM', async () => {
      await handle.store.put('contoso', 'local-ca', pem);
      expect(await handle.store.get('contoso', 'local-ca')).toBe(pem);
    });

    it('When a key was never put, then get returns null', async () => {
      expect(await handle.store.get('contoso', 'never-put')).toBeNull();
    });

    it('When a key is put twice, then the second value wins', async () => {
      await handle.store.put('contoso', 'acme/account', other);
      await handle.store.put('contoso', 'acme/account', pem);
      expect(await handle.store.get('contoso', 'acme/account')).toBe(pem);
    });

    it('When a key is deleted, then get returns null, and deleting it again or deleting an absent key is fine', async () => {
      await handle.store.put('contoso', 'acme/orders/www', pem);
      await handle.store.delete('contoso', 'acme/orders/www');
      await handle.store.delete('contoso', 'acme/orders/www');
      await handle.store.delete('contoso', 'never-put');
      expect(await handle.store.get('contoso', 'acme/orders/www')).toBeNull();
    });

    it('When a deleted key is put again, then the new value is served', async () => {
      await handle.store.put('contoso', 'acme/orders/www', other);
      await handle.store.delete('contoso', 'acme/orders/www');
      await handle.store.put('contoso', 'acme/orders/www', pem);
      expect(await handle.store.get('contoso', 'acme/orders/www')).toBe(pem);
    });

    it('When two tenants hold a key of the same name, then each reads its own and a delete touches one tenant only', async () => {
      await handle.store.put('contoso', 'acme/orders/www', pem);
      await handle.store.put('fabrikam', 'acme/orders/www', other);
      expect(await handle.store.get('contoso', 'acme/orders/www')).toBe(pem);
      expect(await handle.store.get('fabrikam', 'acme/orders/www')).toBe(other);

      await handle.store.delete('contoso', 'acme/orders/www');
      expect(await handle.store.get('contoso', 'acme/orders/www')).toBeNull();
      expect(await handle.store.get('fabrikam', 'acme/orders/www')).toBe(other);
    });

    it('When keys are put, read and deleted, then neither the console nor the logs hold a value', async () => {
      await handle.store.put('contoso', 'local-ca', pem);
      await handle.store.get('contoso', 'local-ca');
      await handle.store.delete('contoso', 'local-ca');
      await handle.store.get('contoso', 'local-ca');

      const written = `${consoleOutput.join('\n')}\n${handle.logs()}`;
      expect(written).not.toContain('PRIVATE KEY');
      expect(written).not.toContain(pemBody(pem).slice(0, 40));
    });
  });
}
