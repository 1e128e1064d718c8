/**
 * Keys in the HSM that SIGNER=pkcs11 and PKCS11_* name (README, "Keys and HSM").
 *
 *   npm run hsm -- list                   labels and addresses of the token's secp256k1 keys
 *   npm run hsm -- generate <label>       a new key pair inside the token (fund the printed address)
 *   npm run hsm -- import <label> < file  moves an existing private key (0x-hex on stdin) into the token
 *
 * A service then names the key in its setting: e.g. SETTLEMENT_OPERATOR_KEY=pkcs11:object=<label>.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../subgraphs/kit/config.js';
import { openKeyStore, pkcs11Ref, signerSettings } from '../subgraphs/kit/signer/index.js';

function main(): number {
  const [command, label] = process.argv.slice(2);
  const config = loadConfig(signerSettings);
  if (config.SIGNER !== 'pkcs11') throw new ConfigError('SIGNER', 'must be pkcs11 (with PKCS11_MODULE, PKCS11_TOKEN_LABEL and PKCS11_PIN or PKCS11_PIN_FILE) to manage keys in an HSM');
  const token = openKeyStore(config).token!;
  const labelOk = (l: string | undefined): l is string => !!l && /^[\x21-\x7e]{1,128}$/.test(l);
  if (command === 'list') {
    for (const k of token.list()) console.log(`${k.address}  ${pkcs11Ref(k.label)}`);
    return 0;
  }
  if ((command === 'generate' || command === 'import') && labelOk(label)) {
    const key = command === 'generate' ? token.generate(label) : token.importKey(label, readFileSync(0, 'utf8').trim());
    console.log(`${key.address}  ${pkcs11Ref(key.label)}`);
    return 0;
  }
  console.error('usage: npm run hsm -- list | generate <label> | import <label> < private-key-file   (label: 1 to 128 printable characters, no spaces)');
  return 2;
}

try {
  process.exitCode = main();
} catch (e) {
  console.error(e instanceof ConfigError ? e.message : `hsm: ${(e as Error).message}`);
  process.exitCode = 1;
}
