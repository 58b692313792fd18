/**
 * HTTP-01 through the deployment target's webroot: certops writes the token file, the target's own
 * web server (here a plain static file server on Pebble's HTTP-01 port) serves it, Pebble validates.
 */
import { createReadStream, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WebrootHttpResponder } from '../../shared/adapters/acme/webroot-http-responder';
import { PermanentError } from '../../shared/domain/errors';
import { startPebble, type PebbleHandle } from '../../shared/demo/pebble-lab';
import { anHttp01Issuer, aRequestFor } from '../support/acme-builders';

jest.setTimeout(30_000);

let pebble: PebbleHandle;
let webroot: string;
let server: http.Server;
const served: string[] = [];

beforeAll(async () => {
  pebble = await startPebble();
  webroot = mkdtempSync(path.join(os.tmpdir(), 'certops-webroot-'));
  // The "deployment target": serves files under the webroot, nothing else.
  server = http.createServer((req, res) => {
    const file = path.join(webroot, path.normalize(decodeURIComponent((req.url ?? '/').split('?')[0])));
    if (!file.startsWith(webroot) || !existsSync(file)) return void res.writeHead(404).end();
    served.push(req.url ?? '');
    res.writeHead(200);
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(pebble.httpChallengePort, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await pebble?.stop();
  rmSync(webroot, { recursive: true, force: true });
});

it('When a certificate is ordered with HTTP-01 through a webroot, then the target serves the token to the CA and the file is gone afterwards', async () => {
  const issuer = anHttp01Issuer(pebble, new WebrootHttpResponder(webroot));
  const issued = await issuer.issue(aRequestFor(['www.contoso.test']));
  expect(issued.certificatePem).toMatch(/BEGIN CERTIFICATE/);
  expect(served.some((u) => u.startsWith('/.well-known/acme-challenge/'))).toBe(true);
  expect(existsSync(path.join(webroot, '.well-known', 'acme-challenge'))).toBe(true);
  expect(readdirSync(path.join(webroot, '.well-known', 'acme-challenge'))).toEqual([]);
});

it('When a token is not base64url, then it is refused rather than written outside the challenge directory', async () => {
  await expect(new WebrootHttpResponder(webroot).present('../../etc/passwd', 'x')).rejects.toThrow(PermanentError);
});
