import Anthropic from '@anthropic-ai/sdk';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshPostgres, type TestPostgres } from '../../src/testing/databases.ts';
import { startOmaProcess, startOmaWorker, type OmaProcess } from '../../src/testing/processes.ts';

/**
 * One measured set-up: a fresh PostgreSQL schema, one `oma serve` with no brains (the API the
 * client drives) and N `oma worker`s (the brains) on it, each a real process. Every process gets its
 * own `PGAPPNAME`, so the sampler counts this set-up's connections by `application_name` and not
 * those of other work using the same database. `stop()` ends every process (SIGTERM, then SIGKILL)
 * and drops the schema; an exit hook SIGKILLs whatever is still running if the bench dies first.
 */

const API_KEY = 'sk-oma-bench-scale-admin-key-0123456789';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

export interface ClusterOptions {
  url: string;
  workers: number;
  /** Sessions each worker runs at once (`OMA_BRAINS`). */
  brains: number;
  /** `OMA_LEASE_TTL_MS`; oma's default when unset. */
  leaseTtlMs?: number;
  modelUrl: string;
}

export interface Worker {
  process: OmaProcess;
  pid: number;
  /** Its `application_name` at PostgreSQL. */
  appName: string;
}

export class Cluster {
  /** Set-ups not yet stopped (for a bench stopped by a signal). */
  static readonly live = new Set<Cluster>();
  readonly workers: Worker[] = [];
  /** Every process started, for the exit hook and `stop()` (a killed one stays listed: it is already gone). */
  private readonly started: OmaProcess[] = [];
  private workerCount = 0;
  private readonly killAll = () => {
    for (const run of this.started) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  };

  private constructor(
    readonly options: ClusterOptions,
    readonly database: TestPostgres,
    readonly dataDir: string,
    /** Prefix of every `application_name` of this set-up. */
    readonly appPrefix: string,
    public serve: (OmaProcess & { url: string; pid: number }) | undefined = undefined,
    public client: Anthropic | undefined = undefined,
  ) {
    process.on('exit', this.killAll);
    Cluster.live.add(this);
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    const database = freshPostgres({ url: options.url, prefix: 'oma_bench_scale' });
    const cluster = new Cluster(options, database, mkdtempSync(join(tmpdir(), 'oma-bench-scale-')), `oma_scale_${randomBytes(4).toString('hex')}`);
    try {
      const serve = await startOmaProcess({ ...cluster.env(), OMA_BRAINS: '0', PGAPPNAME: `${cluster.appPrefix}_serve` }, READY_TIMEOUT_MS);
      cluster.started.push(serve);
      cluster.serve = { ...serve, pid: serve.child.pid! };
      cluster.client = new Anthropic({ baseURL: serve.url, apiKey: API_KEY, maxRetries: 0, timeout: 120_000 });
      await Promise.all(Array.from({ length: options.workers }, () => cluster.addWorker()));
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** Environment shared by `oma serve` and the workers. */
  private env(): Record<string, string> {
    const { url, modelUrl, leaseTtlMs } = this.options;
    return {
      DATABASE_URL: url,
      OMA_DB_SCHEMA: this.database.schema,
      OMA_DATA_DIR: this.dataDir,
      OMA_API_KEY: API_KEY,
      OMA_LOG_LEVEL: 'warn',
      OMA_RATE_LIMIT_CREATE: '0',
      OMA_RATE_LIMIT_READ: '0',
      ANTHROPIC_BASE_URL: modelUrl,
      ANTHROPIC_API_KEY: 'sk-ant-bench-scale',
      ...(leaseTtlMs === undefined ? {} : { OMA_LEASE_TTL_MS: String(leaseTtlMs) }),
    };
  }

  /** Start one more `oma worker`; resolves once it says it is ready. */
  async addWorker(): Promise<Worker> {
    const appName = `${this.appPrefix}_worker${++this.workerCount}`;
    const run = await startOmaWorker({ ...this.env(), OMA_BRAINS: String(this.options.brains), PGAPPNAME: appName }, READY_TIMEOUT_MS, ['--grace', '2000']);
    this.started.push(run);
    const worker = { process: run, pid: run.child.pid!, appName };
    this.workers.push(worker);
    return worker;
  }

  /** `kill -9` a worker; resolves once it is gone. */
  async kill(worker: Worker): Promise<void> {
    this.workers.splice(this.workers.indexOf(worker), 1);
    worker.process.child.kill('SIGKILL');
    await worker.process.exited;
  }

  /** Pids of the live processes by role, for the samplers. */
  processes(): { role: 'serve' | 'worker'; pid: number; name: string }[] {
    return [
      ...(this.serve ? [{ role: 'serve' as const, pid: this.serve.pid, name: 'serve' }] : []),
      ...this.workers.map((worker) => ({ role: 'worker' as const, pid: worker.pid, name: worker.appName })),
    ];
  }

  /** Last lines each process printed on stderr (for a failure message). */
  stderrTails(): string {
    return this.started
      .map((run) => `--- pid ${run.child.pid} stderr:\n${run.stderr().split('\n').slice(-15).join('\n')}`)
      .join('\n');
  }

  /** SIGTERM every process (workers first: they drain), SIGKILL what is left after a while. The schema stays. */
  async stopProcesses(): Promise<void> {
    const alive = (run: OmaProcess) => run.child.exitCode === null && run.child.signalCode === null;
    const end = async (runs: OmaProcess[]) => {
      for (const run of runs) if (alive(run)) run.child.kill('SIGTERM');
      await Promise.race([Promise.all(runs.map((run) => run.exited)), new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS))]);
      for (const run of runs) if (alive(run)) run.child.kill('SIGKILL');
      await Promise.all(runs.map((run) => run.exited));
    };
    this.workers.length = 0;
    await end(this.started.filter((run) => run.child !== this.serve?.child));
    await end(this.started);
  }

  /** Stop every process, drop the schema, remove the data directory. */
  async stop(): Promise<void> {
    this.stopping ??= this.stopOnce();
    return this.stopping;
  }

  private stopping: Promise<void> | undefined;

  private async stopOnce(): Promise<void> {
    try {
      await this.stopProcesses();
    } finally {
      Cluster.live.delete(this);
      process.off('exit', this.killAll);
      this.killAll();
      await this.database.drop().catch((error) => console.error(`could not drop schema ${this.database.schema}: ${(error as Error).message}`));
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}
