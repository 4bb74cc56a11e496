import { createHealthServer } from './health.js';

describe('createHealthServer', () => {
  it('answers /livez always and /readyz from the readiness check', async () => {
    let ready = false;
    const health = createHealthServer(() => ready);
    const port = await health.listen(0, '127.0.0.1');
    try {
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/livez`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await fetch(`${base}/other`)).status).toBe(404);
    } finally {
      await health.close();
    }
  });
});
