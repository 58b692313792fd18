/**
 * The Deployer contract against KeyVaultDeployer, with the real Key Vault SDK clients against the
 * Key Vault stub (tests/support/key-vault-stub.ts). What the target holds is read through the SDK,
 * not through the adapter: the latest version of the certificate when it is enabled (the one a
 * service bound to the versionless id serves), with the key and chain from that version's secret.
 */
import { createHash } from 'node:crypto';
import { KeyVaultDeployer } from '../../shared/adapters/azure/key-vault-deployer';
import type { KeyVaultClients } from '../../shared/adapters/azure/key-vault-clients';
import type { KeyVaultTarget } from '../../shared/config/model';
import { fixedClock } from '../../shared/domain/clock';
import { startKeyVaultStubWithClients } from '../support/key-vault-stub';
import { deployerContract, heldFromPem, type HeldMaterial } from './deployer.contract';

const NAME = 'www-contoso';

/** Nothing when the certificate does not exist or its latest version is disabled. */
async function inspectVault(clients: KeyVaultClients, name: string): Promise<HeldMaterial | null> {
  const certificate = await clients.certificates.getCertificate(name).catch((err) => (err.statusCode === 404 ? null : Promise.reject(err)));
  if (!certificate || certificate.properties.enabled === false) return null;
  const secret = await clients.secrets.getSecret(name, { version: certificate.properties.version });
  const pem = secret.value ?? '';
  const held = heldFromPem(pem, pem, { contentType: secret.properties.contentType });
  const served = createHash('sha256').update(certificate.cer!).digest('hex');
  if (served !== held.certificateSha256) throw new Error(`the certificate (${served}) and its secret (${held.certificateSha256}) disagree`);
  return held;
}

deployerContract('KeyVaultDeployer (real SDK against the Key Vault stub)', async () => {
  const { stub, clients } = await startKeyVaultStubWithClients({ selfSignAfterPolls: 0, maxRetries: 0 });
  const target: KeyVaultTarget = { type: 'key-vault', vaultUrl: stub.url, certificateName: NAME };
  const deployer = new KeyVaultDeployer({
    clientsFor: (url) => {
      if (url !== stub.url) throw new Error(`unexpected vault ${url}`);
      return clients;
    },
    clock: fixedClock('2026-05-01T10:00:00Z'),
    pollIntervalInMs: 5,
  });
  return { deployer, target, inspect: () => inspectVault(clients, NAME), close: () => stub.close() };
});
