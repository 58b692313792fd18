/** The jsonschema fast path must change speed only: the same errors, valid or not, as the library's own method. */
import { installJsonSchemaFastPath, uninstallJsonSchemaFastPath } from '../../shared/pipeline/jsonschema-fast-path';
import { validateEvent } from '../../shared/pipeline/event-schemas';
import { EVENT_TYPES } from '../../shared/pipeline/topology';
import { Validator } from 'jsonschema';

const good = {
  specversion: '1.0',
  id: 'e-1',
  source: '/certops/discover',
  type: EVENT_TYPES.endpointDiscovered,
  time: '2026-11-29T00:00:00.000Z',
  datacontenttype: 'application/json',
  tenantid: 'contoso',
  correlationid: 'c-1',
  data: {
    sweepId: 's-1',
    endpoint: { endpointId: 'a.test:443', host: 'a.test', port: 443, servername: 'a.test', managedCertificateId: null },
    observedAt: '2026-11-29T00:00:00.000Z',
    resolutionError: null,
    addresses: [{ address: '127.0.0.1', outcome: 'ok', chain: ['AAEC'], protocol: 'TLSv1.3', error: null, durationMs: 3 }],
  },
};

const cases: Array<[string, unknown]> = [
  ['a valid discovered event', good],
  ['an event with a bad envelope', { ...good, time: 'yesterday', tenantid: 'Bad Tenant' }],
  ['an event whose nested data is wrong', { ...good, data: { ...good.data, addresses: [{ address: 1, outcome: 'maybe', chain: ['!!'], protocol: null, error: { code: '' }, durationMs: -1 }] } }],
  ['an event with nulls where objects belong', { ...good, data: { ...good.data, endpoint: null, resolutionError: 'oops' } }],
  ['not an object at all', 42],
];

function outcome(body: unknown): string {
  try {
    validateEvent(body, [EVENT_TYPES.endpointDiscovered]);
    return 'valid';
  } catch (err) {
    return String(err);
  }
}

afterAll(() => installJsonSchemaFastPath());

it.each(cases)('When %s is validated, then the fast path and the library agree exactly', (_name, body) => {
  installJsonSchemaFastPath();
  const fast = outcome(body);
  uninstallJsonSchemaFastPath();
  const library = outcome(body);
  expect(fast).toBe(library);
});

it('When a schema uses ids and fragment references, then the library method still resolves them', () => {
  installJsonSchemaFastPath();
  const schema = {
    $id: 'https://certops.example/schemas/thing',
    definitions: { port: { $id: '#port', type: 'integer', maximum: 65535 } },
    type: 'object',
    properties: { port: { $ref: '#/definitions/port' }, nested: { $ref: '#port' } },
  };
  const result = new Validator().validate({ port: 70000, nested: 'x' }, schema);
  expect(result.errors.map((e) => e.stack).sort()).toEqual(['instance.nested is not of a type(s) integer', 'instance.port must be less than or equal to 65535']);
});
