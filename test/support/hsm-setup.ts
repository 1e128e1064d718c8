// No project imports: jest loads its global setup without the test transform's module mapping.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SOFTHSM_MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'];
const hasUtil = () => spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' }).status === 0;

/** A fresh SoftHSM2 token in a temporary folder, its settings as SIGNER=pkcs11 wants them; null without SoftHSM2. Sets SOFTHSM2_CONF. */
export function createSoftHsmToken(label = 'tokenstack-test', pin = '246810'): Record<string, string> | null {
  const module = SOFTHSM_MODULES.find((m) => existsSync(m));
  if (!module || !hasUtil()) return null;
  const dir = mkdtempSync(join(tmpdir(), 'tokenstack-softhsm-'));
  mkdirSync(join(dir, 'tokens'));
  writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  const init = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '13579111'], { encoding: 'utf8', env: process.env });
  if (init.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${init.stderr}`);
  return { SIGNER: 'pkcs11', PKCS11_MODULE: module, PKCS11_TOKEN_LABEL: label, PKCS11_PIN: pin };
}

/**
 * Jest's global setup: a fresh SoftHSM2 token for the HSM tests, unless the environment already
 * names an HSM (SIGNER=pkcs11, .ci/run's second pass). The library reads SOFTHSM2_CONF from the
 * real process environment, which a test file's sandbox cannot change: it is set here, before
 * the workers start, and they inherit it.
 */
export default function prepareTestHsm(): void {
  if (process.env.SIGNER === 'pkcs11' || process.env.TOKENSTACK_TEST_HSM) return;
  const config = createSoftHsmToken();
  if (config) process.env.TOKENSTACK_TEST_HSM = JSON.stringify(config);
}
