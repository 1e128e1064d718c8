import { Contract, Wallet } from 'ethers';
import { startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { deployCashToken } from '../../scripts/chain/cash-token.js';
import { createChainClient, isChainError, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import {
  ClaimTopic,
  KeyPurpose,
  addClaim,
  createIdentity,
  deployClaimIssuer,
  deployDvd,
  deployIdentityAuthority,
  deployTokenSuite,
  keyHash,
  registerIdentity,
  revokeClaim,
  type ClaimIssuerDeployment,
  type IdentityDeployment,
  type TokenSuite,
} from '../../subgraphs/issuance/chain/trex.js';

const US = 840;
const DE = 276;

describe('ERC-3643 suite on anvil', () => {
  let node: AnvilNode;
  let agent: ChainClient; // deployer, owner and agent of everything
  let alice: ChainClient; // verified investor
  let bob: ChainClient; // registered, no claims
  let carol: ChainClient; // verified investor, identity behind a proxy
  let issuer: ClaimIssuerDeployment;
  let suite: TokenSuite;
  let aliceId: IdentityDeployment;
  let bobId: IdentityDeployment;
  let carolId: IdentityDeployment;
  let deployMs = 0;

  beforeAll(async () => {
    node = await startAnvil();
    const client = (i: number) => createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[i] });
    [agent, alice, bob, carol] = await Promise.all([client(0), client(1), client(2), client(3)]);
  });
  afterAll(async () => {
    await Promise.all([agent, alice, bob, carol].map((c) => c?.close()));
    await node?.stop();
  });

  const claimsFor = async (identity: string, data: string) => {
    for (const topic of [ClaimTopic.KYC, ClaimTopic.COUNTRY]) {
      await addClaim(agent, { identity, claimIssuer: issuer.address, claimIssuerSigningKey: issuer.signingKey, topic, data });
    }
  };

  it('deploys the suite: registries, modular compliance without modules, token unpaused', async () => {
    const started = Date.now();
    issuer = await deployClaimIssuer(agent);
    suite = await deployTokenSuite(agent, {
      name: 'Acme Series A',
      symbol: 'ACMEA',
      decimals: 0,
      claimIssuer: issuer.address,
      claimTopics: [ClaimTopic.KYC, ClaimTopic.COUNTRY],
    });
    deployMs = Date.now() - started;
    console.log(`claim issuer + token suite deployed in ${deployMs} ms`);

    const { token, identityRegistry, claimTopicsRegistry, trustedIssuersRegistry, compliance } = suite;
    expect(await token.name()).toBe('Acme Series A');
    expect(await token.decimals()).toBe(0n);
    expect(await token.paused()).toBe(false);
    expect(await token.identityRegistry()).toBe(suite.addresses.identityRegistry);
    expect(await token.compliance()).toBe(suite.addresses.compliance);
    expect(await compliance.getTokenBound()).toBe(suite.addresses.token);
    expect(await compliance.getModules()).toEqual([]);
    expect(await claimTopicsRegistry.getClaimTopics()).toEqual([1n, 3n]);
    expect(await trustedIssuersRegistry.getTrustedIssuers()).toEqual([issuer.address]);
    expect(await identityRegistry.isAgent(agent.address)).toBe(true);
    expect(await token.isAgent(agent.address)).toBe(true);
    expect(await suite.identityRegistryStorage.linkedIdentityRegistries()).toEqual([suite.addresses.identityRegistry]);
  });

  it('creates identities managed by the service, directly or as proxies', async () => {
    const authority = await deployIdentityAuthority(agent);
    [aliceId, bobId, carolId] = await Promise.all([
      createIdentity(agent, alice.address),
      createIdentity(agent, bob.address),
      createIdentity(agent, carol.address, { implementationAuthority: authority }),
    ]);
    for (const id of [aliceId, bobId, carolId]) {
      expect(await agent.provider.getCode(id.address)).not.toBe('0x');
    }
    expect(await carolId.contract.keyHasPurpose(keyHash(agent.address), KeyPurpose.MANAGEMENT)).toBe(true);
    expect(await aliceId.contract.keyHasPurpose(keyHash(alice.address), KeyPurpose.ACTION)).toBe(true);
    expect(await aliceId.contract.keyHasPurpose(keyHash(alice.address), KeyPurpose.MANAGEMENT)).toBe(false);
  });

  it('adds issuer-signed KYC and country claims that the registry verifies', async () => {
    await claimsFor(aliceId.address, 'KYC approved 2026-01-15');
    await claimsFor(carolId.address, 'KYC approved 2026-01-16');
    await Promise.all([
      registerIdentity(suite, alice.address, aliceId.address, US),
      registerIdentity(suite, bob.address, bobId.address, DE),
      registerIdentity(suite, carol.address, carolId.address, US),
    ]);
    expect(await suite.identityRegistry.isVerified(alice.address)).toBe(true);
    expect(await suite.identityRegistry.isVerified(carol.address)).toBe(true);
    expect(await suite.identityRegistry.isVerified(bob.address)).toBe(false); // registered, no claims
    expect(await suite.identityRegistry.investorCountry(bob.address)).toBe(BigInt(DE));
  });

  it('mints only to verified wallets', async () => {
    await agent.send(suite.token.mint(alice.address, 1000n));
    expect(await suite.token.balanceOf(alice.address)).toBe(1000n);
    const err = await agent.send(suite.token.mint(bob.address, 1n)).catch((e) => e);
    expect(isChainError(err, 'CHAIN_REVERTED')).toBe(true);
    expect(err.reason).toBe('Identity is not verified.');
  });

  it('transfers to a verified wallet and refuses an unverified or unregistered one', async () => {
    const asAlice = suite.token.connect(alice.signer) as Contract;
    await alice.send(asAlice.transfer(carol.address, 100n));
    expect(await suite.token.balanceOf(carol.address)).toBe(100n);

    await expect(asAlice.transfer.staticCall(bob.address, 1n)).rejects.toMatchObject({ reason: 'Transfer not possible' });
    const stranger = Wallet.createRandom().address;
    await expect(asAlice.transfer.staticCall(stranger, 1n)).rejects.toMatchObject({ reason: 'Transfer not possible' });
    const err = await alice.send(asAlice.transfer(bob.address, 1n)).catch((e) => e);
    expect(err).toMatchObject({ code: 'CHAIN_REVERTED', retryable: false, reason: 'Transfer not possible' });
  });

  it('a revoked KYC claim makes the wallet unverified', async () => {
    await revokeClaim(agent, { identity: carolId.address, claimIssuer: issuer.address, topic: ClaimTopic.KYC });
    expect(await suite.identityRegistry.isVerified(carol.address)).toBe(false);
    const asAlice = suite.token.connect(alice.signer) as Contract;
    await expect(asAlice.transfer.staticCall(carol.address, 1n)).rejects.toMatchObject({ reason: 'Transfer not possible' });
    // Re-issued with new data (same data would give the same, revoked, signature).
    await addClaim(agent, { identity: carolId.address, claimIssuer: issuer.address, claimIssuerSigningKey: issuer.signingKey, topic: ClaimTopic.KYC, data: 'KYC approved 2026-02-01' });
    expect(await suite.identityRegistry.isVerified(carol.address)).toBe(true);
  });

  it('the cash token mints with 6 decimals and transfers', async () => {
    const cash = await deployCashToken(agent);
    expect(await cash.contract.decimals()).toBe(6n);
    await agent.send(cash.contract.mint(carol.address, 5_000_000_000n));
    const asCarol = cash.contract.connect(carol.signer) as Contract;
    await carol.send(asCarol.transfer(bob.address, 1_250_000n));
    expect(await cash.contract.balanceOf(carol.address)).toBe(4_998_750_000n);
    expect(await cash.contract.balanceOf(bob.address)).toBe(1_250_000n);
    const err = await carol.send(asCarol.mint(carol.address, 1n)).catch((e) => e);
    expect(err).toMatchObject({ code: 'CHAIN_REVERTED', reason: 'CashToken: caller is not the owner' });
  });

  it('DVDTransferManager swaps security tokens against cash atomically', async () => {
    const dvd = await deployDvd(agent);
    const cash = await deployCashToken(agent);
    await agent.send(cash.contract.mint(carol.address, 1_000_000n));
    // Alice sells 10 tokens to Carol for 1 USD (6 decimals).
    await alice.send((suite.token.connect(alice.signer) as Contract).approve(dvd.address, 10n));
    const init = await alice.send((dvd.contract.connect(alice.signer) as Contract).initiateDVDTransfer(suite.addresses.token, 10n, carol.address, cash.address, 1_000_000n));
    const transferId = init.logs.map((l) => dvd.contract.interface.parseLog(l)).find((e) => e?.name === 'DVDTransferInitiated')!.args.transferID;
    await carol.send((cash.contract.connect(carol.signer) as Contract).approve(dvd.address, 1_000_000n));
    const carolTokensBefore = await suite.token.balanceOf(carol.address);
    await carol.send((dvd.contract.connect(carol.signer) as Contract).takeDVDTransfer(transferId));
    expect(await suite.token.balanceOf(carol.address)).toBe(carolTokensBefore + 10n);
    expect(await cash.contract.balanceOf(alice.address)).toBe(1_000_000n);
    expect(await cash.contract.balanceOf(carol.address)).toBe(0n);
  });

  it('the artifacts come from the packages and our build', () => {
    expect(loadArtifact('Token').bytecode.length).toBeGreaterThan(1000);
    expect(loadArtifact('CashToken').contractName).toBe('CashToken');
    expect(deployMs).toBeGreaterThan(0);
  });
});
