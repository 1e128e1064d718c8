// SPDX-License-Identifier: GPL-3.0
pragma solidity ^0.8.17;

/// @title TokenstackDvP
/// @notice Delivery versus payment: every leg of a settlement (security token seller -> buyer, cash token
///         buyer -> seller, or a netted batch of them) moves in ONE transaction, or none does.
/// @dev Written for tokenstack; no imports so that the runtime code is the same for every deployment
///      (custody recognises a genuine DvP contract by its code hash before it approves it as a spender).
///
///      Authorisation is two-fold:
///      - only an operator (the settlement service's key) may submit a batch, alone (settle) or with others in
///        one transaction (settleMany: each batch settles or fails on its own);
///      - every wallet that pays in a batch must have signed an EIP-712 consent to exactly that batch
///        (its id, every leg, its nonces, a deadline). Custody signs it with the wallet's key only for
///        amounts it has reserved; each nonce (one per custody reservation) can be used once, and a
///        batch id settles once. Wallets give this contract a standing ERC-20 allowance; without a
///        consent it can move nothing.
contract TokenstackDvP {
    struct Leg {
        address token;
        address from;
        address to;
        uint256 amount;
    }

    struct Consent {
        address signer;
        bytes32[] nonces;
        uint256 deadline;
        bytes signature;
    }

    /// @dev One batch of settleMany: what settle takes.
    struct Batch {
        bytes32 batchId;
        Leg[] legs;
        Consent[] consents;
    }

    bytes32 public constant LEG_TYPEHASH = keccak256("Leg(address token,address from,address to,uint256 amount)");
    bytes32 public constant BATCH_TYPEHASH = keccak256(
        "Batch(bytes32 batchId,Leg[] legs,bytes32[] nonces,uint256 deadline)Leg(address token,address from,address to,uint256 amount)"
    );
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("Tokenstack DvP");
    bytes32 private constant VERSION_HASH = keccak256("1");
    // secp256k1n / 2: signatures with a higher s are malleable copies and are refused.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint256 public constant MAX_LEGS = 256;
    uint256 public constant MAX_BATCHES = 64;
    // Gas settleMany keeps beyond a batch's allowance before calling it (copying its arguments, the event after).
    uint256 private constant GAS_MARGIN = 60_000;

    address public owner;
    mapping(address => bool) public operators;
    /// @notice Block number in which a batch settled; 0 if it has not.
    mapping(bytes32 => uint256) public settledAt;
    mapping(address => mapping(bytes32 => bool)) public nonceUsed;
    uint256 private entered = 1;

    event Settled(bytes32 indexed batchId, bytes32 legsHash, uint256 legCount, address indexed operator);
    /// @notice A batch of settleMany that moved nothing; reason is its revert data (Error(string) for a require or a token's refusal).
    event Failed(bytes32 indexed batchId, bytes reason, address indexed operator);
    event OperatorSet(address indexed operator, bool allowed);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    modifier onlyOwner() {
        require(msg.sender == owner, "DvP: caller is not the owner");
        _;
    }

    modifier nonReentrant() {
        require(entered == 1, "DvP: reentrant call");
        entered = 2;
        _;
        entered = 1;
    }

    constructor() {
        owner = msg.sender;
        operators[msg.sender] = true;
        emit OwnershipTransferred(address(0), msg.sender);
        emit OperatorSet(msg.sender, true);
    }

    function setOperator(address operator, bool allowed) external onlyOwner {
        require(operator != address(0), "DvP: zero operator");
        operators[operator] = allowed;
        emit OperatorSet(operator, allowed);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "DvP: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice EIP-712 domain separator, computed per call (no immutables: see the contract's note).
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice EIP-712 encoding of the legs array: keccak256 of the concatenated struct hashes.
    function hashLegs(Leg[] calldata legs) public pure returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](legs.length);
        for (uint256 i = 0; i < legs.length; i++) {
            hashes[i] = keccak256(abi.encode(LEG_TYPEHASH, legs[i].token, legs[i].from, legs[i].to, legs[i].amount));
        }
        return keccak256(abi.encodePacked(hashes));
    }

    /// @notice The digest a payer signs for a batch (EIP-712 typed data "Batch").
    function consentDigest(bytes32 batchId, Leg[] calldata legs, bytes32[] calldata nonces, uint256 deadline) external view returns (bytes32) {
        return _digest(batchId, hashLegs(legs), nonces, deadline);
    }

    /// @notice Moves every leg atomically. Reverts (moving nothing) if the batch settled before, a payer has
    ///         not consented, a consent is expired, forged or replayed, or any transfer fails.
    function settle(bytes32 batchId, Leg[] calldata legs, Consent[] calldata consents) external nonReentrant {
        require(operators[msg.sender], "DvP: caller is not an operator");
        _settle(batchId, legs, consents, msg.sender);
    }

    /// @notice Settles several batches in one transaction, each on its own: a batch that would make settle revert
    ///         (a frozen wallet, a transfer the token's compliance refuses, a missing balance, a replayed batch or
    ///         consent) moves nothing and emits Failed with the reason, while the others settle. Each batch runs
    ///         with gasPerBatch gas at most; when less is left than that, the whole transaction reverts, so a gas
    ///         limit too low never passes for a batch's own failure. Returns how many batches settled.
    function settleMany(Batch[] calldata batches, uint256 gasPerBatch) external nonReentrant returns (uint256 settled) {
        require(operators[msg.sender], "DvP: caller is not an operator");
        require(batches.length > 0 && batches.length <= MAX_BATCHES, "DvP: 1 to 64 batches");
        require(gasPerBatch > 0 && gasPerBatch <= block.gaslimit, "DvP: bad gas per batch");
        for (uint256 i = 0; i < batches.length; i++) {
            Batch calldata b = batches[i];
            require(gasleft() >= gasPerBatch + gasPerBatch / 63 + GAS_MARGIN, "DvP: out of gas");
            try this.settleOne{gas: gasPerBatch}(b.batchId, b.legs, b.consents, msg.sender) {
                settled++;
            } catch (bytes memory reason) {
                emit Failed(b.batchId, reason, msg.sender);
            }
        }
    }

    /// @notice One batch of settleMany, in a call frame of its own so that its failure undoes its effects alone.
    ///         Only this contract may call it (from settleMany, which holds the reentrancy guard and checked the operator).
    function settleOne(bytes32 batchId, Leg[] calldata legs, Consent[] calldata consents, address operator) external {
        require(msg.sender == address(this), "DvP: only through settleMany");
        _settle(batchId, legs, consents, operator);
    }

    function _settle(bytes32 batchId, Leg[] calldata legs, Consent[] calldata consents, address operator) private {
        require(settledAt[batchId] == 0, "DvP: batch already settled");
        require(legs.length > 0 && legs.length <= MAX_LEGS, "DvP: 1 to 256 legs");
        bytes32 legsHash = hashLegs(legs);
        for (uint256 i = 0; i < consents.length; i++) {
            Consent calldata c = consents[i];
            require(block.timestamp <= c.deadline, "DvP: consent expired");
            require(c.signer != address(0), "DvP: zero signer");
            require(_recover(_digest(batchId, legsHash, c.nonces, c.deadline), c.signature) == c.signer, "DvP: bad consent signature");
            for (uint256 j = 0; j < c.nonces.length; j++) {
                require(!nonceUsed[c.signer][c.nonces[j]], "DvP: consent nonce already used");
                nonceUsed[c.signer][c.nonces[j]] = true;
            }
        }
        for (uint256 i = 0; i < legs.length; i++) {
            Leg calldata leg = legs[i];
            require(leg.amount > 0, "DvP: zero amount");
            require(_consented(consents, leg.from), "DvP: payer has not consented");
            _transferFrom(leg.token, leg.from, leg.to, leg.amount);
        }
        settledAt[batchId] = block.number;
        emit Settled(batchId, legsHash, legs.length, operator);
    }

    function _digest(bytes32 batchId, bytes32 legsHash, bytes32[] calldata nonces, uint256 deadline) private view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(BATCH_TYPEHASH, batchId, legsHash, keccak256(abi.encodePacked(nonces)), deadline));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    function _consented(Consent[] calldata consents, address payer) private pure returns (bool) {
        for (uint256 i = 0; i < consents.length; i++) {
            if (consents[i].signer == payer) return true;
        }
        return false;
    }

    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        require(signature.length == 65, "DvP: signature must be 65 bytes");
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        require(uint256(s) <= HALF_ORDER, "DvP: malleable signature");
        require(v == 27 || v == 28, "DvP: bad signature v");
        address signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "DvP: bad signature");
        return signer;
    }

    /// @dev transferFrom that accepts tokens returning nothing and passes the token's revert reason on.
    function _transferFrom(address token, address from, address to, uint256 amount) private {
        require(token.code.length > 0, "DvP: token is not a contract");
        (bool ok, bytes memory ret) = token.call(abi.encodeWithSelector(0x23b872dd, from, to, amount));
        if (!ok) {
            if (ret.length > 0) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
            revert("DvP: transfer failed");
        }
        require(ret.length == 0 || abi.decode(ret, (bool)), "DvP: transfer returned false");
    }
}
