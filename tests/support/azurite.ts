/**
 * Microsoft's Azurite (npm `azurite`, Blob service only) as the Blob storage stand-in, started by
 * the tests themselves: a child process on loopback, port chosen by the kernel, in memory, over
 * HTTPS with a certificate made for the run, and with Azurite's OAuth check on ("basic": a bearer
 * token must be a JWT for https://storage.azure.com from an Entra issuer, unexpired), so the real
 * @azure/storage-blob SDK authenticates with an injected TokenCredential as production's managed
 * identity does. Telemetry is off (no network beyond loopback).
 *
 * Azurite 3.37 declares Node >= 22; it runs the Blob calls certops makes (container create, append
 * blob create with If-None-Match, Append Block with appendPosition, ranged downloads, listing) on
 * Node 20 here. What it does NOT do: immutability. Container retention policies are set through
 * ARM (the Pulumi program), which Azurite has no part of, and it deletes or overwrites any blob it
 * is asked to. Tests that delete a head blob show what Azure would refuse succeeding here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { ContainerClient, newPipeline } from '@azure/storage-blob';
import { localhostTlsMaterial } from '../../shared/adapters/local/certificate-factory';

/** Azurite's one built-in account (the emulator's well-known name; no key is used here). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
const START_TIMEOUT_MS = 20_000;

export interface Azurite {
  /** `https://127.0.0.1:PORT/devstoreaccount1`: the account's blob endpoint. */
  blobEndpoint: string;
  /** A ContainerClient of the real SDK for `name`, trusting this run's certificate, signed in with `credential`. */
  container(name: string, credential?: TokenCredential): ContainerClient;
  close(): Promise<void>;
}

/**
 * A TokenCredential whose token has the shape Azurite's OAuth check wants (an unsigned JWT:
 * audience Storage, issuer Entra, valid now); it counts its calls, like FakeCredential.
 */
export class StorageTokenCredential implements TokenCredential {
  calls = 0;
  async getToken(): Promise<AccessToken> {
    this.calls++;
    const now = Math.floor(Date.now() / 1000);
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${part({ alg: 'none', typ: 'JWT' })}.${part({ aud: 'https://storage.azure.com', iss: 'https://sts.windows.net/72f988bf-0000-4000-8000-00000000c0de/', iat: now - 60, nbf: now - 60, exp: now + 3600, oid: 'certops-test' })}.`;
    return { token, expiresOnTimestamp: (now + 3600) * 1000 };
  }
}

export async function startAzurite(): Promise<Azurite> {
  const tls = await localhostTlsMaterial('certops test Azurite CA');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certops-azurite-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  fs.writeFileSync(cert, tls.certPem);
  fs.writeFileSync(key, tls.keyPem, { mode: 0o600 });
  const child = spawn(
    process.execPath,
    [require.resolve('azurite/dist/src/blob/main.js'), '--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--disableTelemetry', '--silent', '--oauth', 'basic', '--cert', cert, '--key', key],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
  );
  let url: string;
  try {
    url = await listeningUrl(child);
  } catch (err) {
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const agent = new https.Agent({ ca: tls.caPem, keepAlive: true });
  const blobEndpoint = `${url}/${AZURITE_ACCOUNT}`;
  return {
    blobEndpoint,
    container: (name, credential = new StorageTokenCredential()) => {
      const pipeline = newPipeline(credential, { retryOptions: { maxTries: 1 } });
      // Trust this run's CA for these clients only. (storage-blob adds `additionalPolicies` again
      // to every client derived from a pipeline, so a request-policy factory does it instead.)
      pipeline.factories.unshift({ create: (next) => ({ sendRequest: (request) => ((request.agent = agent), next.sendRequest(request)) }) });
      return new ContainerClient(`${blobEndpoint}/${name}`, pipeline);
    },
    close: async () => {
      agent.destroy();
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`Azurite did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /successfully listens on (https:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${code} before listening:\n${output}`));
    });
  });
}
