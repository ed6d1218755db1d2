// The one small job contract: run `fn` every `ms`, never two runs at once, failures logged, stoppable.
import type { Logger } from 'pino';

export interface Job { stop(): Promise<void> }

export function every(name: string, ms: number, fn: () => Promise<unknown>, log: Logger, opts: { runNow?: boolean } = {}): Job {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    running = (async () => {
      try {
        await fn();
      } catch (e) {
        log.error({ err: e, job: name }, 'background job failed');
      }
    })().finally(() => {
      running = undefined;
      if (!stopped) timer = setTimeout(tick, ms);
    });
  };
  timer = setTimeout(tick, opts.runNow ? 0 : ms);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
