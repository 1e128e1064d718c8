import { loadConfig } from '../../subgraphs/kit/config.js';
import { signerSettings, type SignerConfig } from '../../subgraphs/kit/signer/index.js';

/**
 * The HSM tests sign with: the environment's when it says SIGNER=pkcs11 (.ci/run's second pass),
 * else the token the global setup made. Null when SoftHSM2 is not installed here
 * (`apt-get install softhsm2`); in CI that is a failure, never a skip.
 */
export function testHsm(): SignerConfig | null {
  if (process.env.SIGNER === 'pkcs11') return loadConfig(signerSettings);
  if (process.env.TOKENSTACK_TEST_HSM) return JSON.parse(process.env.TOKENSTACK_TEST_HSM) as SignerConfig;
  if (process.env.CI === 'true') throw new Error('SoftHSM2 is not installed: .ci/run installs it (apt-get install softhsm2)');
  return null;
}

/** Settings of testHsm() as environment variables (for a child process). */
export const hsmEnv = (c: SignerConfig): Record<string, string> =>
  Object.fromEntries(Object.entries({ ...c, SOFTHSM2_CONF: process.env.SOFTHSM2_CONF }).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => [k, String(v)]));
