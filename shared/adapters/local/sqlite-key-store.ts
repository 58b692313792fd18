/**
 * SqliteKeyStore: the embedded runtime's KeyStore (ports/key-store.ts). Each value is sealed with
 * AES-256-GCM under the key-encryption key (the master key):
 * - a fresh random 12-byte IV per value (NIST SP 800-38D §8.2.2: random 96-bit IVs; never reuse one
 *   under the same key);
 * - the tenant and the name as additional authenticated data, so a ciphertext copied to another
 *   tenant's or name's row fails to decrypt instead of leaking under the wrong owner;
 * - the 16-byte authentication tag stored beside it.
 * A value that fails authentication means a wrong master key (or a tampered row): `get` throws
 * KeyDecryptionError; it never returns garbage or null.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Statement } from 'better-sqlite3';
import { CertopsError, ConfigError } from '../../domain/errors';
import type { KeyStore } from '../../ports/key-store';
import type { Database } from './sqlite-database';

const CIPHER = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const MASTER_KEY_ENV = 'CERTOPS_MASTER_KEY';
export const MASTER_KEY_FILE = 'master.key';

/** The stored value cannot be authenticated under this master key. Never carries the value. */
export class KeyDecryptionError extends CertopsError {}

export class SqliteKeyStore implements KeyStore {
  private readonly upsert: Statement;
  private readonly select: Statement;
  private readonly remove: Statement;

  /** @param kek the 32-byte key-encryption key (see loadOrCreateMasterKey). */
  constructor(
    db: Database,
    private readonly kek: Buffer,
  ) {
    if (kek.length !== KEY_BYTES) {
      throw new Error(`the key-encryption key must be ${KEY_BYTES} bytes, got ${kek.length}`);
    }
    this.upsert = db.prepare(
      `INSERT INTO secrets (tenant_id, name, iv, auth_tag, ciphertext) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, name) DO UPDATE SET
         iv = excluded.iv, auth_tag = excluded.auth_tag, ciphertext = excluded.ciphertext`,
    );
    this.select = db.prepare('SELECT iv, auth_tag, ciphertext FROM secrets WHERE tenant_id = ? AND name = ?');
    this.remove = db.prepare('DELETE FROM secrets WHERE tenant_id = ? AND name = ?');
  }

  async delete(tenantId: string, name: string): Promise<void> {
    this.remove.run(tenantId, name);
  }

  async put(tenantId: string, name: string, secretPem: string): Promise<void> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(CIPHER, this.kek, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(tenantId, name));
    const ciphertext = Buffer.concat([cipher.update(secretPem, 'utf8'), cipher.final()]);
    this.upsert.run(tenantId, name, iv, cipher.getAuthTag(), ciphertext);
  }

  async get(tenantId: string, name: string): Promise<string | null> {
    const row = this.select.get(tenantId, name) as { iv: Buffer; auth_tag: Buffer; ciphertext: Buffer } | undefined;
    if (!row) return null;
    try {
      const decipher = createDecipheriv(CIPHER, this.kek, row.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(associatedData(tenantId, name));
      decipher.setAuthTag(row.auth_tag);
      return Buffer.concat([decipher.update(row.ciphertext), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new KeyDecryptionError(
        `cannot decrypt key "${name}" of tenant ${tenantId}: the master key (${MASTER_KEY_ENV} or ${MASTER_KEY_FILE}) ` +
          'is not the one it was stored with, or the row was altered; restore the original master key',
        { cause: err },
      );
    }
  }
}

/** JSON of the pair: unambiguous, unlike a concatenation ("a:b" + "c" vs "a" + "b:c"). */
function associatedData(tenantId: string, name: string): Buffer {
  return Buffer.from(JSON.stringify([tenantId, name]), 'utf8');
}

/** Permission bits of group and others: a master key with any of them set is refused. */
const NOT_OWNER_BITS = 0o077;

/**
 * The master key: base64 `CERTOPS_MASTER_KEY` (32 bytes) when set; otherwise `<dataDir>/master.key`
 * (base64 text), created with mode 0600 on first use. Throws when either holds a key of the wrong
 * length: a truncated key would otherwise surface later as "wrong master key". Refuses a key file
 * that anyone but its owner may read or write (issue 11, defect 6), as ssh refuses such a private
 * key: it unlocks every key and the audit chain, and fixing its mode silently would hide that it
 * was exposed. The message says how to fix it.
 */
export function loadOrCreateMasterKey(dataDir: string, env: NodeJS.ProcessEnv): Buffer {
  const fromEnv = env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return decodeKey(fromEnv, MASTER_KEY_ENV);

  const file = path.join(dataDir, MASTER_KEY_FILE);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': create only if absent, so two processes starting together never overwrite each other's key.
    fs.writeFileSync(file, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    fs.chmodSync(file, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & NOT_OWNER_BITS) !== 0) {
    throw new ConfigError(file, [
      `the master key can be read or written by users other than its owner (mode ${mode.toString(8).padStart(4, '0')}); certops refuses to use it. ` +
        `Run: chmod 600 ${file} (and consider it exposed: anyone who read it can read every stored key)`,
    ]);
  }
  return decodeKey(fs.readFileSync(file, 'utf8'), file);
}

function decodeKey(base64: string, source: string): Buffer {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== KEY_BYTES) {
    throw new Error(`the master key in ${source} must be ${KEY_BYTES} bytes of base64, got ${key.length} bytes`);
  }
  return key;
}
