import { mapBounded } from '../../shared/pipeline/bounded';

it('When many items are mapped with a limit, then no more than the limit run at once and the order is kept', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapBounded([5, 1, 4, 2, 3, 0, 6, 7, 8, 9], 3, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, n));
    running--;
    return n * 10;
  });
  expect(peak).toBe(3);
  expect(out).toEqual([50, 10, 40, 20, 30, 0, 60, 70, 80, 90]);
});

it('When there is nothing to map, then it resolves to nothing', async () => {
  expect(await mapBounded([], 4, async (x: number) => x)).toEqual([]);
});
