// At most `total` tasks at once, and at most `limitOf(key)` at once per key (per warehouse): a slow
// warehouse with a low limit cannot take every slot, and the invocation never opens more
// connections than the Workers runtime allows at once (6). Tasks start in order, skipping those
// whose key is at its limit until a slot of theirs frees up.
export async function runLimited<T>(
  items: readonly T[],
  options: { total: number; keyOf: (item: T) => string; limitOf: (key: string) => number },
  task: (item: T) => Promise<void>,
): Promise<void> {
  const pending = [...items];
  const running = new Map<string, number>();
  let active = 0;

  await new Promise<void>((done, fail) => {
    const next = () => {
      if (pending.length === 0 && active === 0) return done();
      while (active < options.total) {
        const index = pending.findIndex((item) => (running.get(options.keyOf(item)) ?? 0) < Math.max(1, options.limitOf(options.keyOf(item))));
        if (index < 0) break;
        const [item] = pending.splice(index, 1) as [T];
        const key = options.keyOf(item);
        running.set(key, (running.get(key) ?? 0) + 1);
        active += 1;
        // A task that throws is the caller's to handle; here it only frees its slot.
        void task(item)
          .catch(() => {})
          .finally(() => {
            running.set(key, running.get(key)! - 1);
            active -= 1;
            guarded();
          });
      }
    };
    // keyOf or limitOf throwing must end the wait, not leave it pending forever.
    const guarded = () => {
      try {
        next();
      } catch (err) {
        fail(err);
      }
    };
    guarded();
  });
}
