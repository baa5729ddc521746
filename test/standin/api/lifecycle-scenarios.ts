/**
 * Scenarios that end a process's use of the GPU, each in a child of its own: a sticky CUDA
 * error (the stand-in's context stays poisoned for the process), and process.exit() with
 * runs and a build in flight.
 */
import { DynamicBatcher, TensorRTSession, buildEngine } from '../../../src/index.js';
import { Lcg, changed, control, counters, rejection, track, until, writeModel } from './harness.js';
import { ENCODER, feedsFor } from './specs.js';

const DIMS = { batch: [1, 8] as [number, number], sequence: [1, 16] as [number, number] };

export const stickyScenarios: Record<string, () => Promise<unknown>> = {
  async 'a sticky CUDA error marks the session lost'() {
    const built = (await track(buildEngine(writeModel('encoder', ENCODER), { dims: DIMS }))).plan;
    const session = await track(TensorRTSession.create(built, { contexts: 2 }));
    const rng = new Lcg(30);
    const before = counters();
    control().setFaults('cuda.op_delay_us=2000,cuda.sticky_kernel=1');
    // Two running (one per context), two waiting for a context.
    const runs = Array.from({ length: 4 }, () => rejection(session.run(feedsFor(ENCODER, { batch: 2, sequence: 4 }, rng))));
    const errors = await Promise.all(runs);
    control().setFaults('');
    const later = await rejection(session.run(feedsFor(ENCODER, { batch: 1, sequence: 1 }, rng)));
    const batcher = new DynamicBatcher(session, { maxBatchSize: 4, maxQueueDelayMs: 1 });
    const viaBatcher = await rejection(batcher.run(feedsFor(ENCODER, { batch: 1, sequence: 3 }, rng)));
    await track(batcher.close());
    await track(session.dispose());
    const delta = changed(before);
    return { errors, later, viaBatcher, stickyErrors: delta['cuda.stickyErrors'] ?? 0, disposed: session.disposed };
  },
};

/** Starts runs, batched runs and a build, and exits the process while they are in flight. */
export async function exitWithWorkInFlight(): Promise<void> {
  const model = writeModel('encoder', ENCODER);
  const built = (await buildEngine(model, { dims: DIMS })).plan;
  const session = await TensorRTSession.create(built, { contexts: 2 });
  const batcher = new DynamicBatcher(session, { maxBatchSize: 8, maxQueueDelayMs: 1 });
  const rng = new Lcg(31);
  control().setFaults('cuda.op_delay_us=2000,trt.build_step_ms=50');
  const start = control().counter('trt.enqueueV3');
  for (let i = 0; i < 16; i++) {
    void session.run(feedsFor(ENCODER, { batch: 2, sequence: 4 }, rng)).catch(() => {});
    void batcher.run(feedsFor(ENCODER, { batch: 1, sequence: 3 }, rng)).catch(() => {});
  }
  void buildEngine(model, { dims: { batch: [1, 4], sequence: [1, 8] } }).catch(() => {});
  await until(() => control().counter('trt.enqueueV3') > start + 2 && control().counter('trt.build.started') > 1);
  process.stdout.write(`${JSON.stringify({ scenario: 'exit', inFlight: session.load })}\n`, () => process.exit(0));
}
