/**
 * Zero downtime under load (issue 4): a real nginx (Debian) and a Node TLS server on loopback,
 * a load generator in another process opening fresh TLS handshakes and HTTPS requests at a
 * steady rate, and certops rotating their one certificate 20 times meanwhile. Judged from the
 * clients' side: no attempt fails, and after each commit every new handshake sees the new
 * certificate.
 */
import { runRotationLoad, median, type RotationLoadFigures } from '../support/rotation-load';

jest.setTimeout(180_000);

const ROTATIONS = 20;
/** The load was real: at ~160 attempts/s the run lasts well over 10 s. */
const MIN_ATTEMPTS = 1000;

let figures: RotationLoadFigures;

beforeAll(async () => {
  figures = await runRotationLoad({ rotations: ROTATIONS, attemptsPerSecond: 160 });
  // The measured figures, for the report (not an assertion).
  const { rotations: _r, failureSamples, staleAfterCommit, ...summary } = figures;
  console.log(
    JSON.stringify({
      ...summary,
      deployToVerifiedMedianMs: median(figures.deployToVerifiedMs),
      deployToVerifiedMaxMs: Math.max(...figures.deployToVerifiedMs),
      failureSamples: failureSamples.slice(0, 5),
      staleAfterCommit: staleAfterCommit.slice(0, 10),
      staleAfterCommitCount: staleAfterCommit.length,
    }),
  );
});

it('When the certificate is rotated 20 times under load, then every rotation commits a new certificate', () => {
  expect(figures.rotations.map((r) => ({ outcome: r.outcome, failure: r.failure }))).toEqual(
    Array.from({ length: ROTATIONS }, () => ({ outcome: 'committed', failure: null })),
  );
  expect(figures.distinctFingerprints).toBe(ROTATIONS);
});

it('When the certificate is rotated 20 times under load, then no handshake and no request fails', () => {
  expect(figures.failureSamples).toEqual([]);
  expect(figures.failures).toBe(0);
});

it('When a rotation has committed, then every handshake started after the commit sees the new certificate', () => {
  expect(figures.unexpectedBeforeFirst).toBe(0);
  expect(figures.staleAfterCommit).toEqual([]);
});

it('When the load runs, then it really was load: both servers, both kinds of attempt, over a thousand fresh connections', () => {
  expect(figures.attempts).toBeGreaterThan(MIN_ATTEMPTS);
  for (const target of ['nginx', 'node']) {
    expect(figures.byTarget[target]?.handshakes).toBeGreaterThan(MIN_ATTEMPTS / 5);
    expect(figures.byTarget[target]?.https).toBeGreaterThan(MIN_ATTEMPTS / 5);
  }
  // Each committed certificate met clients before the next rotation began: every check above had data.
  expect(figures.checkedAfterCommit.filter((n) => n < 10)).toEqual([]);
  expect(figures.deployToVerifiedMs).toHaveLength(ROTATIONS);
});
