/**
 * A real nginx (Debian package) on loopback for the load tests and the benchmark: one HTTPS
 * server block on 127.0.0.1:<port> serving the given certificate and key files and answering
 * `200 ok`. It runs as a non-daemon child (`daemon off`) with every path (pid, logs, temp
 * directories) under its own temporary prefix, so nothing on the machine is touched.
 *
 * nginx reads certificate files only when it starts or reloads: a rotation writes the files, then
 * runs `reloadCommand()` (`nginx -s reload`, which signals the master and returns at once). The
 * master starts new workers with the new files and tells the old ones to finish; the old workers
 * keep accepting on the shared socket for ~100–130 ms, still serving the old certificate.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Where Debian installs nginx; overridable with CERTOPS_NGINX. */
const NGINX_BINARY = process.env.CERTOPS_NGINX ?? '/usr/sbin/nginx';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

export interface NginxOptions {
  certFile: string;
  keyFile: string;
  /** Default 0: a free loopback port chosen before start. */
  port?: number;
  /** Default 2, like a small production box: reloads then really hand over between workers. */
  workerProcesses?: number;
}

export interface NginxServer {
  port: number;
  /** The nginx prefix directory (config, logs, pid): removed by stop(). */
  prefix: string;
  /** argv (no shell) that makes the running nginx re-read its configuration and certificate files. */
  reloadCommand(): string[];
  /** The error log so far (for failure messages). */
  errorLog(): string;
  /** Stops nginx (SIGQUIT: graceful, then SIGKILL) and removes its prefix. */
  stop(): Promise<void>;
}

/** Throws a clear error when the nginx binary is not installed. */
export function nginxBinary(): string {
  if (!existsSync(NGINX_BINARY)) {
    throw new Error(`nginx is not installed at ${NGINX_BINARY}: install Debian's package (apt-get install -y nginx) or set CERTOPS_NGINX`);
  }
  return NGINX_BINARY;
}

/** Starts nginx in the foreground and resolves once it accepts connections on its port. */
export async function startNginx(options: NginxOptions): Promise<NginxServer> {
  const binary = nginxBinary();
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'certops-nginx-'));
  const port = options.port || (await freeLoopbackPort());
  const conf = path.join(prefix, 'nginx.conf');
  mkdirSync(path.join(prefix, 'logs'));
  writeFileSync(conf, nginxConf({ ...options, prefix, port }));
  // -e: the error log before the configuration is read (else /var/log/nginx/error.log is opened).
  const base = ['-p', `${prefix}/`, '-c', conf, '-e', path.join(prefix, 'logs', 'error.log')];
  const test = spawnSync(binary, [...base, '-t'], { encoding: 'utf8' });
  if (test.status !== 0) {
    rmSync(prefix, { recursive: true, force: true });
    throw new Error(`nginx rejected its test configuration: ${test.stderr.trim()}`);
  }
  const child = spawn(binary, base, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const server: NginxServer = {
    port,
    prefix,
    reloadCommand: () => [binary, ...base, '-s', 'reload'],
    errorLog: () => readQuietly(path.join(prefix, 'logs', 'error.log')),
    stop: () => stopNginx(child, prefix),
  };
  try {
    await waitUntilListening(child, port, () => stderr);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

function nginxConf(o: NginxOptions & { prefix: string; port: number }): string {
  const p = (name: string): string => path.join(o.prefix, name);
  return `# written by tests/support/nginx-server.ts
daemon off;
master_process on;
worker_processes ${o.workerProcesses ?? 2};
pid ${p('nginx.pid')};
error_log ${p('logs/error.log')} warn;
${userDirective()}
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${p('client_body_temp')};
  proxy_temp_path ${p('proxy_temp')};
  fastcgi_temp_path ${p('fastcgi_temp')};
  uwsgi_temp_path ${p('uwsgi_temp')};
  scgi_temp_path ${p('scgi_temp')};
  keepalive_timeout 0;
  server {
    listen 127.0.0.1:${o.port} ssl backlog=1024;
    server_name _;
    # nginx 1.22 enables up to TLS 1.2 by default; the fleet speaks 1.3 too.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${o.certFile};
    ssl_certificate_key ${o.keyFile};
    # Every handshake is a full one: the load test counts certificates seen, not sessions resumed.
    ssl_session_cache off;
    ssl_session_tickets off;
    default_type text/plain;
    location / { return 200 "ok"; }
  }
}
`;
}

/**
 * nginx run by root switches its workers to `nobody`, which cannot enter the 0700 temporary prefix;
 * keep them as root here (a test stand-in on loopback). Run by anyone else, `user` would only be
 * ignored with a warning, so it is left out.
 */
function userDirective(): string {
  return process.getuid?.() === 0 ? 'user root root;' : '';
}

async function waitUntilListening(child: ChildProcess, port: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (code ${child.exitCode}) on start: ${stderr().trim()}`);
    if (await connects(port)) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms: ${stderr().trim()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

async function stopNginx(child: ChildProcess, prefix: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGQUIT'); // graceful shutdown of the master and its workers
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(killer);
  }
  rmSync(prefix, { recursive: true, force: true });
}

async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function readQuietly(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
