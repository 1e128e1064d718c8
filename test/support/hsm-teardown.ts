// Jest's global teardown (no project imports, like the setup): the throwaway SoftHSM2 token's folder goes.
import { rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';

export default function removeTestHsm(): void {
  const conf = process.env.TOKENSTACK_TEST_HSM && process.env.SOFTHSM2_CONF;
  if (conf && basename(dirname(conf)).startsWith('tokenstack-softhsm-')) rmSync(dirname(conf), { recursive: true, force: true });
}
