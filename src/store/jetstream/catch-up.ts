/**
 * "Caught up with what the stream held at open": a promise to await and a one-shot trigger.
 * The KV watches and the history view both wait for it before open() resolves.
 */
export function catchUpSignal(alreadyCaughtUp: boolean): { ready: Promise<void>; done: () => void; isDone: () => boolean } {
  let caughtUp = false;
  let resolve: () => void = () => undefined;
  const ready = new Promise<void>((r) => { resolve = r; });
  const done = () => {
    caughtUp = true;
    resolve();
  };
  if (alreadyCaughtUp) done();
  return { ready, done, isDone: () => caughtUp };
}
