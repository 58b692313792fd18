/**
 * Child process of scripts/probe-throughput.ts: generates one CA and a leaf per server, starts a
 * TlsFleet of N servers (argv[2], default 200) on loopback, sends the endpoints to the parent over
 * IPC, and closes when the parent says 'close' or goes away. Running the fleet in its own process
 * lets server-side handshake work use the other core.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCertificate, generateKeyPair } from '../shared/adapters/local/certificate-factory';
import { TlsFleet, type FleetServerSpec } from '../shared/demo/tls-fleet';

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 200);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tls-fleet-'));
  const notBefore = new Date(Date.now() - 86_400_000);
  const notAfter = new Date(Date.now() + 90 * 86_400_000);
  const caKey = await generateKeyPair('ec-p256');
  const ca = await createCertificate({ subject: 'CN=Fleet CA', isCA: true, key: caKey, notBefore, notAfter });
  const specs: FleetServerSpec[] = [];
  for (let i = 0; i < count; i++) {
    const name = `site-${i}.fleet.test`;
    const key = await generateKeyPair('ec-p256');
    const leaf = await createCertificate({ subject: `CN=${name}`, dnsNames: [name], key, notBefore, notAfter, issuer: { certificatePem: ca.certificatePem, key: caKey } });
    const certFile = path.join(dir, `${name}.crt`);
    const keyFile = path.join(dir, `${name}.key`);
    await fs.writeFile(certFile, leaf.certificatePem + ca.certificatePem);
    await fs.writeFile(keyFile, key.privateKeyPem, { mode: 0o600 });
    // Spread over 127.0.0.1–127.0.0.4 like a small subnet would be.
    specs.push({ name, address: `127.0.0.${1 + (i % 4)}`, certFile, keyFile });
  }
  const fleet = await TlsFleet.start(specs);
  const stop = async (): Promise<void> => {
    await fleet.close();
    await fs.rm(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('message', (message) => void (message === 'close' && stop()));
  process.on('disconnect', () => void stop());
  process.send?.({ endpoints: fleet.endpoints().map((e) => ({ ...e, servername: e.name })) });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
