/**
 * A TLS endpoint bound to a Key Vault certificate by its versionless id, as App Service, Front
 * Door and Application Gateway are: it polls the certificate's secret (PEM with its key) through
 * the real SecretClient and swaps the new version in with setSecureContext when it changes.
 */
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecretClient } from '@azure/keyvault-secrets';

export interface KeyVaultBoundServer {
  port: number;
  /** How many versions it has loaded. */
  loads: number;
  close(): Promise<void>;
}

function split(pem: string): { cert: string; key: string } {
  const key = pem.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/)?.[0];
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!key || !certs) throw new Error('the certificate secret holds no PEM key and certificate');
  return { cert: certs.join('\n'), key };
}

export async function startKeyVaultBoundServer(secrets: SecretClient, certificateName: string, pollMs = 50): Promise<KeyVaultBoundServer> {
  let current = (await secrets.getSecret(certificateName)).value ?? '';
  const server = https.createServer(split(current), (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const state: KeyVaultBoundServer = {
    port: (server.address() as AddressInfo).port,
    loads: 1,
    close: async () => {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const timer = setInterval(() => {
    void secrets.getSecret(certificateName).then(
      (secret) => {
        if (secret.value && secret.value !== current) {
          current = secret.value;
          server.setSecureContext(split(current));
          state.loads++;
        }
      },
      () => undefined, // a failed poll is retried at the next tick, as the services do
    );
  }, pollMs);
  return state;
}
