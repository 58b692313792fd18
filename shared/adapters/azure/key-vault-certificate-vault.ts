/**
 * KeyVaultCertificateVault: certops' view of Azure Key Vault certificates, over an injected
 * CertificateClient. It maps the SDK's wire-shaped objects to small domain shapes in one place
 * (PEM text, hex thumbprints, plain tags) and SDK failures to certops errors (key-vault-errors.ts).
 *
 * Two ways a certificate gets into the vault:
 * - created by the vault: `createWithPolicy` (issuer 'Self': the vault signs; the operation is
 *   polled to the end) or `createWithCsr` (issuer 'Unknown': the vault makes the key and a CSR, an
 *   external CA such as an ACME server signs it, `merge` brings the chain back; the private key
 *   never leaves the vault);
 * - imported: `importPem` (certificate, chain and key as one PEM) or `importPfx`.
 * Every import or merge makes a new version; services bound to the versionless id follow it.
 *
 * Absent objects are values, not errors: `get` and `pendingOperation` answer null, `listVersions`
 * an empty list.
 */
import { createHash } from 'node:crypto';
import type {
  CertificateClient,
  CertificateOperation,
  CertificatePolicy,
  CertificateProperties,
  ImportCertificateOptions,
  KeyVaultCertificate,
  KeyVaultCertificateWithPolicy,
} from '@azure/keyvault-certificates';
import { errorMessage, PermanentError } from '../../domain/errors';
import { isNotFound, mapKeyVaultError, statusOf } from './key-vault-errors';

export const PEM_CONTENT_TYPE = 'application/x-pem-file';
export const PKCS12_CONTENT_TYPE = 'application/x-pkcs12';
/** The SDK's own default poll interval; Key Vault answers `Retry-After: 10` but self-signing takes a few seconds. */
export const DEFAULT_POLL_INTERVAL_MS = 2_000;

export type VaultKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

/** What the vault should make: the subject and names, the key, and the form of the secret. */
export interface VaultCertificateRequest {
  /** e.g. `CN=www.contoso.example`. */
  subject: string;
  dnsNames?: string[];
  /** Default 'rsa-2048' (the service's default). */
  keyType?: VaultKeyType;
  /** Default 12. */
  validityMonths?: number;
  /** Whether the key can be read back through the certificate's secret; default true. */
  exportable?: boolean;
  /** The secret's form; default PEM (what certops deploys elsewhere). */
  contentType?: typeof PEM_CONTENT_TYPE | typeof PKCS12_CONTENT_TYPE;
  tags?: Record<string, string>;
}

/** One certificate version as certops sees it. */
export interface VaultCertificate {
  name: string;
  version: string;
  /** The versioned id (https://{vault}/certificates/{name}/{version}). */
  id: string;
  certificatePem: string;
  /** SHA-1 of the DER, lowercase hex (Key Vault's x5t, decoded). */
  thumbprintSha1: string;
  enabled: boolean;
  createdOn?: Date;
  notBefore?: Date;
  expiresOn?: Date;
  tags: Record<string, string>;
  /** From the certificate's policy; present only on reads of the latest version (policy is per certificate). */
  policy?: { issuerName?: string; exportable?: boolean; contentType?: string };
}

export interface VaultCertificateVersion {
  version: string;
  id: string;
  thumbprintSha1: string;
  enabled: boolean;
  createdOn?: Date;
  expiresOn?: Date;
  tags: Record<string, string>;
}

export interface PendingCertificateOperation {
  /** 'inProgress' | 'completed' | 'cancelled' | 'failed' as Key Vault reports it. */
  status: string;
  issuerName?: string;
  /** The PKCS#10 request as PEM, while the vault holds one. */
  csrPem?: string;
  statusDetails?: string;
  error?: string;
  /** The certificate's versionless id once the operation completed. */
  targetId?: string;
}

export interface KeyVaultCertificateVaultOptions {
  pollIntervalInMs?: number;
}

export interface VaultCallOptions {
  abortSignal?: AbortSignal;
}

export class KeyVaultCertificateVault {
  private readonly pollIntervalInMs: number;

  constructor(
    private readonly client: CertificateClient,
    options: KeyVaultCertificateVaultOptions = {},
  ) {
    this.pollIntervalInMs = options.pollIntervalInMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  get vaultUrl(): string {
    return this.client.vaultUrl;
  }

  /** Creates a self-signed certificate (issuer 'Self') and waits for the operation to complete. */
  async createWithPolicy(name: string, request: VaultCertificateRequest, options: VaultCallOptions = {}): Promise<VaultCertificate> {
    const operation = `create certificate "${name}" in ${this.vaultUrl}`;
    let poller;
    try {
      poller = await this.client.beginCreateCertificate(name, toPolicy(request, 'Self'), {
        tags: request.tags,
        intervalInMs: this.pollIntervalInMs,
        abortSignal: options.abortSignal,
      });
    } catch (err) {
      throw mapKeyVaultError(err, operation);
    }
    let created: KeyVaultCertificateWithPolicy;
    try {
      created = await poller.pollUntilDone();
    } catch (err) {
      // The poller rethrows a failed operation as a plain Error carrying the issuer's message.
      if (statusOf(err) !== undefined) throw mapKeyVaultError(err, operation);
      throw new PermanentError(`Key Vault could not ${operation}: the operation failed (${errorMessage(err)}); inspect its pending operation in the vault`);
    }
    if (!created.cer) {
      throw new PermanentError(`Key Vault could not ${operation}: the operation ended without a certificate; inspect its pending operation in the vault`);
    }
    return toVaultCertificate(created);
  }

  /**
   * Starts a certificate whose issuer is outside the vault (issuer 'Unknown') and returns the CSR
   * the vault made; the key stays in the vault. Resumable: when an 'Unknown' operation for `name`
   * is already waiting for its merge (a retried order), its CSR is returned instead of a conflict.
   */
  async createWithCsr(name: string, request: VaultCertificateRequest, options: VaultCallOptions = {}): Promise<{ csrPem: string }> {
    try {
      // The create poller's public state omits the operation; the CSR is read through the operation poller.
      await this.client.beginCreateCertificate(name, toPolicy(request, 'Unknown'), { tags: request.tags, abortSignal: options.abortSignal });
    } catch (err) {
      if (statusOf(err) !== 409) throw mapKeyVaultError(err, `start certificate "${name}" (CSR for an external CA) in ${this.vaultUrl}`);
    }
    const pending = await this.pendingOperation(name, options);
    if (pending?.status !== 'inProgress' || pending.issuerName !== 'Unknown' || !pending.csrPem) {
      throw new PermanentError(
        `Key Vault holds no CSR awaiting an external CA for certificate "${name}" in ${this.vaultUrl} ` +
          `(operation ${pending ? `${pending.status}, issuer ${pending.issuerName}` : 'absent'}); another creation is under way: wait for it or cancel it`,
      );
    }
    return { csrPem: pending.csrPem };
  }

  /** Completes a createWithCsr operation with the CA's chain (leaf first; PEM text or PEM blocks). */
  async merge(name: string, chainPem: string | string[], options: VaultCallOptions = {}): Promise<VaultCertificate> {
    const x5c = pemCertificates(Array.isArray(chainPem) ? chainPem.join('\n') : chainPem);
    if (x5c.length === 0) throw new PermanentError(`merge of "${name}": the chain holds no PEM CERTIFICATE block`);
    try {
      return toVaultCertificate(await this.client.mergeCertificate(name, x5c, { abortSignal: options.abortSignal }));
    } catch (err) {
      throw mapKeyVaultError(err, `merge the signed chain into certificate "${name}" in ${this.vaultUrl}`);
    }
  }

  /** Imports certificate + chain + private key (one PEM text) as a new version; the secret stays PEM. */
  async importPem(name: string, pem: string, options: VaultCallOptions & { tags?: Record<string, string> } = {}): Promise<VaultCertificate> {
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
      throw new PermanentError(`import of "${name}": the PEM holds no private key; Key Vault imports a certificate only with its key`);
    }
    try {
      const imported = await this.client.importCertificate(name, Buffer.from(pem, 'ascii'), pemImportOptions(options));
      return toVaultCertificate(imported);
    } catch (err) {
      throw mapKeyVaultError(err, `import certificate "${name}" into ${this.vaultUrl}`);
    }
  }

  /** Imports a PKCS#12 (e.g. another certificate's secret value, base64-decoded) as a new version. */
  async importPfx(name: string, pfx: Uint8Array, options: VaultCallOptions & { password?: string; tags?: Record<string, string> } = {}): Promise<VaultCertificate> {
    try {
      const imported = await this.client.importCertificate(name, pfx, { password: options.password, tags: options.tags, abortSignal: options.abortSignal });
      return toVaultCertificate(imported);
    } catch (err) {
      throw mapKeyVaultError(err, `import certificate "${name}" (PKCS#12) into ${this.vaultUrl}`);
    }
  }

  /** The latest version (with its policy), or one version; null when either is absent or not yet issued. */
  async get(name: string, version?: string, options: VaultCallOptions = {}): Promise<VaultCertificate | null> {
    try {
      const found = version
        ? await this.client.getCertificateVersion(name, version, { abortSignal: options.abortSignal })
        : await this.client.getCertificate(name, { abortSignal: options.abortSignal });
      return found.cer ? toVaultCertificate(found) : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw mapKeyVaultError(err, `read certificate "${name}"${version ? ` version ${version}` : ''} from ${this.vaultUrl}`);
    }
  }

  /** Every version (all pages), in the order the service lists them (not guaranteed chronological). */
  async listVersions(name: string, options: VaultCallOptions = {}): Promise<VaultCertificateVersion[]> {
    const versions: VaultCertificateVersion[] = [];
    try {
      for await (const p of this.client.listPropertiesOfCertificateVersions(name, { abortSignal: options.abortSignal })) {
        versions.push(toVersion(p));
      }
      return versions;
    } catch (err) {
      if (isNotFound(err)) return [];
      throw mapKeyVaultError(err, `list the versions of certificate "${name}" in ${this.vaultUrl}`);
    }
  }

  /** The certificate's create operation (pending or finished), or null when it never had one. */
  async pendingOperation(name: string, options: VaultCallOptions = {}): Promise<PendingCertificateOperation | null> {
    try {
      const poller = await this.client.getCertificateOperation(name, { abortSignal: options.abortSignal, intervalInMs: this.pollIntervalInMs });
      const op = poller.getOperationState().certificateOperation;
      return op ? toPending(op) : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw mapKeyVaultError(err, `read the pending operation of certificate "${name}" in ${this.vaultUrl}`);
    }
  }

  /** Enables or disables one version (a disabled version's secret can no longer be read). */
  async setEnabled(name: string, version: string, enabled: boolean, options: VaultCallOptions = {}): Promise<void> {
    try {
      await this.client.updateCertificateProperties(name, version, { enabled, abortSignal: options.abortSignal });
    } catch (err) {
      throw mapKeyVaultError(err, `${enabled ? 'enable' : 'disable'} certificate "${name}" version ${version} in ${this.vaultUrl}`);
    }
  }
}

/**
 * @azure/keyvault-certificates 4.10.3 drops `options.policy` from the import request body (its
 * serializer reads `certificatePolicy`), so the service would get a PEM without
 * `secret_props.contentType` and refuse it (a PEM import requires it). `policy` still tells the
 * SDK to send the PEM as text rather than base64; `certificatePolicy` (the generated client's
 * field, spread through from the options) is what reaches the wire.
 */
function pemImportOptions(options: VaultCallOptions & { tags?: Record<string, string> }): ImportCertificateOptions {
  const wirePolicy = { secretProperties: { contentType: PEM_CONTENT_TYPE } };
  return { policy: { contentType: PEM_CONTENT_TYPE }, tags: options.tags, abortSignal: options.abortSignal, certificatePolicy: wirePolicy } as ImportCertificateOptions;
}

function toPolicy(request: VaultCertificateRequest, issuerName: 'Self' | 'Unknown'): CertificatePolicy {
  const keyType = request.keyType ?? 'rsa-2048';
  const ec = keyType.startsWith('ec');
  const policy = {
    issuerName,
    subject: request.subject,
    ...(request.dnsNames?.length ? { subjectAlternativeNames: { dnsNames: request.dnsNames } } : {}),
    keyType: ec ? 'EC' : 'RSA',
    ...(ec ? { keyCurveName: keyType === 'ec-p384' ? 'P-384' : 'P-256' } : { keySize: Number(keyType.slice(4)) }),
    exportable: request.exportable ?? true,
    reuseKey: false,
    contentType: request.contentType ?? PEM_CONTENT_TYPE,
    validityInMonths: request.validityMonths ?? 12,
  };
  return policy as CertificatePolicy;
}

function toVaultCertificate(c: KeyVaultCertificate | KeyVaultCertificateWithPolicy): VaultCertificate {
  const der = Buffer.from(c.cer ?? new Uint8Array());
  const policy = 'policy' in c ? c.policy : undefined;
  return {
    name: c.name,
    version: c.properties.version ?? '',
    id: c.properties.id ?? c.id ?? '',
    certificatePem: derToPem(der, 'CERTIFICATE'),
    thumbprintSha1: c.properties.x509Thumbprint ? Buffer.from(c.properties.x509Thumbprint).toString('hex') : createHash('sha1').update(der).digest('hex'),
    enabled: c.properties.enabled !== false,
    createdOn: c.properties.createdOn,
    notBefore: c.properties.notBefore,
    expiresOn: c.properties.expiresOn,
    tags: { ...(c.properties.tags ?? {}) },
    ...(policy ? { policy: { issuerName: policy.issuerName, exportable: policy.exportable, contentType: policy.contentType } } : {}),
  };
}

function toVersion(p: CertificateProperties): VaultCertificateVersion {
  return {
    version: p.version ?? '',
    id: p.id ?? '',
    thumbprintSha1: p.x509Thumbprint ? Buffer.from(p.x509Thumbprint).toString('hex') : '',
    enabled: p.enabled !== false,
    createdOn: p.createdOn,
    expiresOn: p.expiresOn,
    tags: { ...(p.tags ?? {}) },
  };
}

function toPending(op: CertificateOperation): PendingCertificateOperation {
  return {
    status: op.status ?? 'unknown',
    issuerName: op.issuerName,
    ...(op.csr ? { csrPem: csrPem(op.csr) } : {}),
    ...(op.statusDetails ? { statusDetails: op.statusDetails } : {}),
    ...(op.error?.message ? { error: op.error.message } : {}),
    ...(op.target ? { targetId: op.target } : {}),
  };
}

/** The SDK hands the CSR as DER bytes (older versions: base64 text). */
function csrPem(csr: Uint8Array | string): string {
  const der = typeof csr === 'string' ? Buffer.from(csr, 'base64') : Buffer.from(csr);
  return derToPem(der, 'CERTIFICATE REQUEST');
}

function derToPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The DER of each CERTIFICATE block, in order (x5c, RFC 7517 §4.7: leaf first). */
export function pemCertificates(text: string): Uint8Array[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}
