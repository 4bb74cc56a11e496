// Plain ESM so jest loads it natively; the TypeScript it needs is loaded through tsx.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const mod = await tsImport('./global-setup.ts', import.meta.url);
  await mod.default();
}
