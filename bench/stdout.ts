/**
 * A bench piped into `head` (or a pager closed early) used to die on its next line, before
 * its clean-up, and leave its control plane, agent, nats-server and redis-server instances
 * running, which lowered every figure measured after. With this it runs to the end, and
 * cleans up, whether or not anyone still reads it.
 */
export function keepRunningWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}
