import { coresSince, cpuSnapshot, type CpuSnapshot } from '../lib/cpu.ts';

/** The brain benchmark's view of `bench/lib/cpu.ts`: this process and PostgreSQL in ms, everything else in cores. */

export { cpuSnapshot, type CpuSnapshot };

/** CPU time of this process so far (µs, user + system). */
export const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** CPU used since `start`: this process and PostgreSQL in ms, the rest of the machine (not this process, its children or PostgreSQL) in cores. */
export function cpuSince(start: CpuSnapshot) {
  const used = coresSince(start);
  const ms = (value: number | undefined) => (value === undefined ? undefined : value * used.seconds * 1_000);
  return { ownMs: ms(used.own)!, postgresMs: ms(used.postgres), restCores: used.other, seconds: used.seconds };
}

/** Cores, for the tables ('?' when unknown). */
export const cores = (value: number | undefined) => (value === undefined ? '?' : value.toFixed(2));
