import { readFileSync } from 'node:fs';

/**
 * This process's peak resident memory in MB. Not `process.resourceUsage().maxRSS`: on Linux that
 * high-water mark survives exec, so a forked child reports its parent's peak if it was higher.
 * /proc/self/status VmHWM belongs to this process's own address space.
 */
export function peakRssMB(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Math.round(Number(match[1]) / 1024);
  } catch {
    // not Linux: fall back below
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
