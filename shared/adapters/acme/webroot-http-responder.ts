/**
 * WebrootHttpResponder: HTTP-01 through the web server of the deployment target (RFC 8555 §8.3):
 * writes the key authorization to `<webroot>/.well-known/acme-challenge/<token>`, which the
 * target's own server (nginx, IIS, Apache) serves, and removes it afterwards. The certbot and
 * lego `--webroot` pattern. Tokens are base64url (RFC 8555 §8.1), so a token can never name a
 * path outside the challenge directory; anything else is refused.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PermanentError, RetryableError, errorMessage } from '../../domain/errors';
import type { HttpChallengeResponder } from '../../ports/http-challenge-responder';

const TOKEN = /^[A-Za-z0-9_-]+$/;

export class WebrootHttpResponder implements HttpChallengeResponder {
  private readonly directory: string;

  constructor(webroot: string) {
    this.directory = path.join(webroot, '.well-known', 'acme-challenge');
  }

  async present(token: string, keyAuthorization: string, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    options.abortSignal?.throwIfAborted();
    const file = this.fileOf(token);
    try {
      await mkdir(this.directory, { recursive: true, mode: 0o755 });
      // World-readable on purpose: the web server serves it to the CA over plain HTTP.
      await writeFile(file, keyAuthorization, { mode: 0o644 });
    } catch (err) {
      throw new RetryableError(`cannot write the HTTP-01 token under ${this.directory} (${errorMessage(err)}); check the webroot path and permissions`, { cause: err });
    }
  }

  async cleanup(token: string, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    options.abortSignal?.throwIfAborted();
    await rm(this.fileOf(token), { force: true });
  }

  private fileOf(token: string): string {
    if (!TOKEN.test(token)) throw new PermanentError(`refusing HTTP-01 token "${token.slice(0, 40)}": not base64url (RFC 8555 §8.1)`);
    return path.join(this.directory, token);
  }
}
