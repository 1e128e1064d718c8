/**
 * A background loop: runs `step`, then waits `intervalMs` after it ends (never
 * two at once); a failed step is reported and the next one retries. Returns
 * the stopper, which waits for the step in progress.
 */
export function startLoop(step: () => Promise<void>, intervalMs: number, o: { immediate: boolean; onError: (e: unknown) => void }): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = (async () => {
      try {
        await step();
      } catch (e) {
        o.onError(e);
      }
      if (!stopped) timer = setTimeout(tick, intervalMs);
    })();
  };
  if (o.immediate) tick();
  else timer = setTimeout(tick, intervalMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
