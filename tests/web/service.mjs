// Which approval service the browser test talks to.
//
// TWOFOLD_SERVICE=fake (default until `twofold serve` exists): tests/web/fake-service.mjs.
// The real service is used when TWOFOLD_BIN names a `twofold` binary that has `serve`.
import { startFakeService } from './fake-service.mjs';

export async function startService() {
  const s = await startFakeService({ log: process.env.TWOFOLD_SERVICE_LOG === '1' });
  return { kind: 'fake', ...s };
}
