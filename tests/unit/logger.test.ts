import { Writable } from 'node:stream';
import { generateKeyPair } from '../../shared/adapters/local/certificate-factory';
import { ConfigError } from '../../shared/domain/errors';
import { createLogger, invocationLogger, type Logger } from '../../shared/observability/logger';

/** A destination that keeps every JSON line in memory. */
function aMemoryStream() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    stream,
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function aLogger(options: { level?: string; env?: NodeJS.ProcessEnv } = {}): { log: Logger; out: ReturnType<typeof aMemoryStream> } {
  const out = aMemoryStream();
  return { log: createLogger({ destination: out.stream, env: {}, ...options }), out };
}

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.sentinel-token-value';
let privateKeyPem: string;
// The body of the key, without armour: what must never reach a log line.
let keyBody: string;

beforeAll(async () => {
  privateKeyPem = (await generateKeyPair('ec-p256')).privateKeyPem;
  keyBody = privateKeyPem.split('\n')[1];
  expect(privateKeyPem).toContain('PRIVATE KEY-----');
});

describe('createLogger redaction', () => {
  it('When an object holds a private key PEM and a token at several depths, then neither is written and [redacted] is', () => {
    const { log, out } = aLogger();

    log.info(
      {
        token: TOKEN,
        privateKeyPem,
        material: { privateKeyPem, token: TOKEN },
        order: { account: { token: TOKEN, privateKeyPem } },
        deep: { a: { b: { token: TOKEN, privateKeyPem } } },
        issued: [{ privateKeyPem, token: TOKEN }],
        subject: 'www.acme.example',
      },
      'issued a certificate',
    );

    expect(out.text()).not.toContain(keyBody);
    expect(out.text()).not.toContain(TOKEN);
    const [line] = out.lines();
    expect(line).toMatchObject({
      token: '[redacted]',
      privateKeyPem: '[redacted]',
      material: { privateKeyPem: '[redacted]', token: '[redacted]' },
      order: { account: { token: '[redacted]', privateKeyPem: '[redacted]' } },
      deep: { a: { b: { token: '[redacted]', privateKeyPem: '[redacted]' } } },
      issued: [{ privateKeyPem: '[redacted]', token: '[redacted]' }],
      subject: 'www.acme.example',
      msg: 'issued a certificate',
    });
  });

  it('When secrets, passwords and authorization headers are logged, then they are censored and other headers are kept', () => {
    const { log, out } = aLogger();

    log.warn({
      webhook: { url: 'http://127.0.0.1:9000/hook', secret: 'hook-secret-value' },
      headers: { authorization: 'Bearer abc.def', 'x-api-key': 'api-key-value', accept: 'application/json' },
      req: { headers: { Authorization: 'Basic dXNlcjpwYXNz' } },
      db: { password: 'hunter2-value', connectionString: 'AccountKey=cosmos-key-value' },
    }, 'called the webhook');

    for (const secret of ['hook-secret-value', 'abc.def', 'api-key-value', 'dXNlcjpwYXNz', 'hunter2-value', 'cosmos-key-value']) {
      expect(out.text()).not.toContain(secret);
    }
    expect(out.lines()[0]).toMatchObject({
      webhook: { url: 'http://127.0.0.1:9000/hook', secret: '[redacted]' },
      headers: { authorization: '[redacted]', 'x-api-key': '[redacted]', accept: 'application/json' },
      req: { headers: { Authorization: '[redacted]' } },
    });
  });

  it('When a PEM private key hides under an unlisted key, deeper than the redact paths, or in the message, then it is still censored', () => {
    const { log, out } = aLogger();

    log.error({ body: privateKeyPem, a: { b: { c: { d: { e: `key=${privateKeyPem}` } } } } }, `could not parse ${privateKeyPem}`);

    expect(out.text()).not.toContain(keyBody);
    expect(out.lines()[0]).toMatchObject({
      body: '[redacted]',
      a: { b: { c: { d: { e: 'key=[redacted]' } } } },
      msg: 'could not parse [redacted]',
    });
  });

  it("When secrets sit deeper than three levels, under differently cased keys, or in a child logger's bindings, then they are censored", () => {
    const { log, out } = aLogger();
    const child = log.child({ clientSecret: 'binding-secret-value' });

    child.info({ a: { b: { c: { d: { e: { Token: TOKEN, PASSWORD: 'hunter2-value' } } } } } }, 'deep');

    for (const secret of [TOKEN, 'hunter2-value', 'binding-secret-value']) expect(out.text()).not.toContain(secret);
    expect(out.lines()[0]).toMatchObject({
      clientSecret: '[redacted]',
      a: { b: { c: { d: { e: { Token: '[redacted]', PASSWORD: '[redacted]' } } } } },
    });
  });

  it('When an error whose message holds a PEM private key is logged, then the key is censored and the error kept', () => {
    const { log, out } = aLogger();

    log.error({ err: new Error(`cannot import ${privateKeyPem}`) }, 'import failed');

    expect(out.text()).not.toContain(keyBody);
    expect(out.lines()[0]).toMatchObject({ err: { type: 'Error', message: 'cannot import [redacted]' } });
  });

  it('When ordinary fields are logged, then they are written unchanged', () => {
    const { log, out } = aLogger();
    const fields = { continuationToken: 'page-2', fingerprint: 'ab12', endpoints: [{ host: 'a', port: 443 }] };

    log.info(fields, 'listed');

    expect(out.lines()[0]).toMatchObject(fields);
  });

  it("When an object is logged, then the caller's object still holds its values", () => {
    const { log } = aLogger();
    const material = { privateKeyPem, nested: { note: privateKeyPem } };

    log.info({ material }, 'stored');

    expect(material).toEqual({ privateKeyPem, nested: { note: privateKeyPem } });
  });
});

describe('createLogger levels', () => {
  it.each([
    ['CERTOPS_LOG_LEVEL is warn', { env: { CERTOPS_LOG_LEVEL: 'warn' } }, ['warn']],
    ['CERTOPS_LOG_LEVEL is silent', { env: { CERTOPS_LOG_LEVEL: 'silent' } }, []],
    ['no level is set', { env: {} }, ['info', 'warn']],
    ['the option says debug and the environment says silent', { level: 'debug', env: { CERTOPS_LOG_LEVEL: 'silent' } }, ['debug', 'info', 'warn']],
  ])('When %s, then only those levels are written', (_name, options, expected) => {
    const { log, out } = aLogger(options);
    log.debug('d');
    log.info('i');
    log.warn('w');
    expect(out.lines().map((l) => l.level)).toEqual(expected);
  });

  it('When CERTOPS_LOG_LEVEL is not a level, then a ConfigError names it', () => {
    expect(() => aLogger({ env: { CERTOPS_LOG_LEVEL: 'verbose' } })).toThrow(ConfigError);
    expect(() => aLogger({ env: { CERTOPS_LOG_LEVEL: 'verbose' } })).toThrow(/log level "verbose" is not one of/);
  });
});

describe('invocationLogger', () => {
  it('When a stage logs through its invocation logger, then every line carries stage, tenant, correlation and event ids', () => {
    const { log, out } = aLogger();
    const child = invocationLogger(log, { stage: 'renew', tenantId: 'acme', correlationId: 'c-1', eventId: 'e-1' });

    child.info({ decision: 'proceed' }, 'gate decided');

    expect(out.lines()[0]).toMatchObject({
      name: 'certops', stage: 'renew', tenantId: 'acme', correlationId: 'c-1', eventId: 'e-1', decision: 'proceed', msg: 'gate decided',
    });
  });

  it('When no tenant or event applies, then those fields are absent rather than empty', () => {
    const { log, out } = aLogger();
    invocationLogger(log, { stage: 'sweep', correlationId: 'c-2' }).info('started');
    const [line] = out.lines();
    expect(line).toMatchObject({ stage: 'sweep', correlationId: 'c-2' });
    expect(line).not.toHaveProperty('tenantId');
    expect(line).not.toHaveProperty('eventId');
  });
});
