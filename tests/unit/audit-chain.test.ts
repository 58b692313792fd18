import {
  GENESIS_HASH,
  canonicalJson,
  hashAuditRecord,
  verifyAuditChain,
} from '../../shared/domain/audit-chain';
import type { AuditRecord } from '../../shared/ports/audit-log';

/** Builds a valid chain of `length` records for one tenant, as an AuditLog would. */
function aChain(length: number, tenantId = 'contoso'): AuditRecord[] {
  const records: AuditRecord[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= length; seq++) {
    const content = {
      tenantId,
      seq,
      at: new Date(Date.UTC(2025, 2, 1, 0, 0, seq)).toISOString(),
      kind: 'certificate.rotated',
      actor: 'rotate',
      correlationId: `corr-${seq}`,
      data: { certificateId: 'www', step: seq, nested: { ok: true } },
      prevHash,
    };
    const record = { ...content, hash: hashAuditRecord(content) };
    records.push(record);
    prevHash = record.hash;
  }
  return records;
}

describe('canonicalJson (RFC 8785)', () => {
  it.each([
    { case: 'keys sorted at every depth, no whitespace', value: { b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }, json: '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}' },
    { case: 'numbers as ECMAScript prints them', value: [1.0, 1e21, 0.000001, 1e-7, -0], json: '[1,1e+21,0.000001,1e-7,0]' },
    { case: 'strings escaped as JSON.stringify does', value: { s: 'é\n"\u0001' }, json: '{"s":"é\\n\\"\\u0001"}' },
    { case: 'keys ordered by UTF-16 code units', value: { '\u20ac': 1, '\r': 2, '1': 3, a: 4 }, json: '{"\\r":2,"1":3,"a":4,"€":1}' },
    { case: 'a Date through its toJSON', value: { at: new Date('2025-03-01T00:00:00Z') }, json: '{"at":"2025-03-01T00:00:00.000Z"}' },
  ])('When the value has $case, then the encoding is canonical', ({ value, json }) => {
    expect(canonicalJson(value)).toBe(json);
  });

  it.each([
    { case: 'an undefined property', value: { a: undefined } },
    { case: 'NaN', value: { a: NaN } },
    { case: 'Infinity', value: [Infinity] },
    { case: 'a bigint', value: { a: BigInt(1) } },
    { case: 'a function', value: { a: () => 1 } },
  ])('When the value holds $case, then it is rejected', ({ value }) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });

  it('When two objects differ only in key order, then their record hashes are equal', () => {
    const [record] = aChain(1);
    const { hash, ...content } = record;
    const reordered = { ...content, data: { nested: { ok: true }, step: 1, certificateId: 'www' } };
    expect(hashAuditRecord(reordered)).toBe(hash);
  });
});

describe('verifyAuditChain', () => {
  it('When the chain is intact, then it verifies with its count', () => {
    expect(verifyAuditChain(aChain(10))).toEqual({ ok: true, count: 10 });
  });

  it('When the chain is empty, then it verifies with count 0', () => {
    expect(verifyAuditChain([])).toEqual({ ok: true, count: 0 });
  });

  it('When two tenants are interleaved and both intact, then it verifies', () => {
    const a = aChain(3, 'contoso');
    const b = aChain(3, 'fabrikam');
    expect(verifyAuditChain([a[0], b[0], b[1], a[1], a[2], b[2]])).toEqual({ ok: true, count: 6 });
  });

  type Tamper = (records: AuditRecord[]) => AuditRecord[];
  const cases: Array<{ case: string; tamper: Tamper; seq: number; problem: string; message: RegExp }> = [
    {
      case: 'the data of record 7 is altered',
      tamper: (r) => r.map((x) => (x.seq === 7 ? { ...x, data: { ...x.data, certificateId: 'evil' } } : x)),
      seq: 7,
      problem: 'hash-mismatch',
      message: /^record 7 of tenant contoso was altered: its hash does not match its content$/,
    },
    {
      case: 'the actor of record 1 is altered',
      tamper: (r) => r.map((x) => (x.seq === 1 ? { ...x, actor: 'human:mallory@example.test' } : x)),
      seq: 1,
      problem: 'hash-mismatch',
      message: /record 1 of tenant contoso was altered/,
    },
    {
      case: 'the hash of record 4 is replaced',
      tamper: (r) => r.map((x) => (x.seq === 4 ? { ...x, hash: 'f'.repeat(64) } : x)),
      seq: 4,
      problem: 'hash-mismatch',
      message: /record 4 of tenant contoso was altered/,
    },
    {
      case: 'record 5 is altered and re-hashed (the forger knows the algorithm)',
      tamper: (r) =>
        r.map((x) => {
          if (x.seq !== 5) return x;
          const { hash: _old, ...content } = { ...x, data: { forged: true } };
          return { ...content, hash: hashAuditRecord(content) };
        }),
      seq: 6,
      problem: 'broken-link',
      message: /record 6 of tenant contoso does not link to record 5/,
    },
    {
      case: 'record 3 is deleted',
      tamper: (r) => r.filter((x) => x.seq !== 3),
      seq: 4,
      problem: 'sequence-gap',
      message: /record 4 of tenant contoso follows record 2: record 3 was deleted/,
    },
    {
      case: 'records 5 and 6 are swapped',
      tamper: (r) => [...r.slice(0, 4), r[5], r[4], ...r.slice(6)],
      seq: 6,
      problem: 'sequence-gap',
      message: /record 6 of tenant contoso follows record 4/,
    },
    {
      case: 'the first record is deleted',
      tamper: (r) => r.slice(1),
      seq: 2,
      problem: 'sequence-gap',
      message: /record 2 of tenant contoso comes first: record 1 was deleted/,
    },
    {
      case: 'record 8 is duplicated',
      tamper: (r) => [...r.slice(0, 8), r[7], ...r.slice(8)],
      seq: 8,
      problem: 'sequence-gap',
      message: /record 8 of tenant contoso comes after record 8/,
    },
  ];

  it.each(cases)('When $case, then verification fails naming record $seq ($problem)', ({ tamper, seq, problem, message }) => {
    const verdict = verifyAuditChain(tamper(aChain(10)));
    expect(verdict).toMatchObject({ ok: false, seq, problem });
    expect(verdict.ok === false && verdict.message).toMatch(message);
  });

  it('When a record of one tenant is moved into another tenant, then it fails at that record', () => {
    const a = aChain(3, 'contoso');
    const moved = { ...aChain(3, 'fabrikam')[1], tenantId: 'contoso' };
    expect(verifyAuditChain([a[0], moved, a[2]])).toMatchObject({ ok: false, seq: 2, problem: 'hash-mismatch' });
  });
});
