// Long operations started from the API (a container create may build a Debian
// tree for minutes): the request answers 202 with a job id at once and the GUI
// polls GET /api/v1/jobs/:id for its state, elapsed time and outcome. At most
// `maxJobs` are kept (finished ones dropped oldest first; when all are running
// a new one is refused with E_LIMIT).
import { lazyBuiltin } from '../system/lazy-builtin.ts';
import { AgentError } from '../errors.ts';
import { toHttpError } from './http-error.ts';

// node:crypto on first use, not at start (system/lazy-builtin.ts).
const nodeCrypto = lazyBuiltin('node:crypto');

export interface JobView {
  id: string;
  command: string;
  state: 'running' | 'done' | 'failed';
  started: number;
  finished: number | null;
  result: unknown;
  error: { code: string; message: string; field?: string } | null;
}

export class JobTable {
  private readonly jobs = new Map<string, JobView>();

  constructor(private readonly maxJobs: number, private readonly now: () => number = Date.now) {}

  start(command: string, run: () => Promise<unknown>): JobView {
    if (this.jobs.size >= this.maxJobs) {
      const oldest = [...this.jobs.values()].find((j) => j.state !== 'running');
      if (!oldest) throw new AgentError('E_LIMIT', `${this.maxJobs} operations are already running`);
      this.jobs.delete(oldest.id);
    }
    const job: JobView = { id: nodeCrypto().randomBytes(9).toString('base64url'), command, state: 'running', started: this.now(), finished: null, result: null, error: null };
    this.jobs.set(job.id, job);
    run().then(
      (r) => { job.state = 'done'; job.result = r ?? null; job.finished = this.now(); },
      (e: unknown) => {
        const he = toHttpError(e);
        job.state = 'failed'; job.finished = this.now();
        job.error = { code: he.code, message: he.message, ...(he.field !== undefined ? { field: he.field } : {}) };
      },
    );
    return job;
  }

  get(id: string): JobView | undefined {
    return this.jobs.get(id);
  }

  list(): JobView[] {
    return [...this.jobs.values()];
  }
}
