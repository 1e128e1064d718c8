// SPDX-License-Identifier: GPL-3.0
pragma solidity ^0.8.17;

import "@tokenysolutions/t-rex/contracts/compliance/modular/modules/AbstractModule.sol";
import "@tokenysolutions/t-rex/contracts/compliance/modular/IModularCompliance.sol";
import "@tokenysolutions/t-rex/contracts/token/IToken.sol";
import "@tokenysolutions/t-rex/contracts/registry/interface/IIdentityRegistry.sol";
import "@openzeppelin/contracts/access/Ownable.sol";

/// @title TokenstackRulesModule
/// @notice tokenstack's transfer rules for ERC-3643 (T-REX) tokens, enforced on chain so that a transfer the
///         off-chain compliance engine refuses is also refused by the token: country allow / block lists, Reg S
///         distribution compliance period (no US persons), liquidate-only investors, max balance and max share of
///         supply per investor, min holding, holder caps (total, non-accredited, US: 12(g), 3(c)(1), issuer policy),
///         Reg D 506(b) non-accredited purchasers, and per-wallet time locks (Rule 144 holding periods, Reg CF
///         resale restriction).
/// @dev Written for tokenstack on T-REX's AbstractModule (GPL-3.0). One deployment serves any number of
///      ModularCompliance contracts: every setting and counter is kept per compliance. Settings are changed by the
///      compliance's owner, directly or through ModularCompliance.callModuleFunction.
///
///      An investor is an ONCHAINID identity (IdentityRegistry.identity(wallet)): balances, holder counts and flags
///      are per investor, locks per wallet. The module follows every balance change through the compliance
///      callbacks, which T-REX makes AFTER moving the balance (transfer, transferFrom, forcedTransfer, mint, burn):
///      a wallet is attached to its investor when its balance goes from 0 to more and detached when it returns to
///      0; an investor is a holder while it has an attached wallet. Forced transfers and burns are never checked
///      (T-REX does not ask the compliance), only counted.
contract TokenstackRulesModule is AbstractModule {
    /// ISO 3166-1 numeric code of the United States.
    uint16 internal constant US = 840;
    /// Locks per wallet: each costs one storage read on every transfer from that wallet.
    uint256 public constant MAX_LOCKS = 16;

    // Bits of failedRules(); mirrored in subgraphs/kit/chain/modules.ts.
    uint256 internal constant RULE_COUNTRY_RECEIVER = 1 << 0;
    uint256 internal constant RULE_COUNTRY_SENDER = 1 << 1;
    uint256 internal constant RULE_US_PERSON = 1 << 2;
    uint256 internal constant RULE_LIQUIDATE_ONLY = 1 << 3;
    uint256 internal constant RULE_MAX_BALANCE = 1 << 4;
    uint256 internal constant RULE_MAX_SUPPLY_SHARE = 1 << 5;
    uint256 internal constant RULE_MIN_HOLDING = 1 << 6;
    uint256 internal constant RULE_HOLDER_CAP = 1 << 7;
    uint256 internal constant RULE_NON_ACCREDITED_CAP = 1 << 8;
    uint256 internal constant RULE_US_HOLDER_CAP = 1 << 9;
    uint256 internal constant RULE_NON_ACCREDITED_PURCHASERS = 1 << 10;
    uint256 internal constant RULE_LOCKED = 1 << 11;
    uint256 internal constant RULE_NO_TOKEN = 1 << 12;

    /// Read once per check: one storage slot. 0 means "no limit" throughout.
    struct Limits {
        bool allowList; // the receiver's country must be in `allowed`
        bool blockList; // neither party's country may be in `blocked`
        uint16 maxSupplyShareBps; // per investor, of the supply after the transfer
        uint64 usPersonBlockedUntil; // Reg S: no US person receives while block.timestamp < this
        uint32 maxHolders;
        uint32 maxNonAccreditedHolders;
        uint32 maxUsHolders;
        uint32 maxNonAccreditedPurchasers; // Reg D 506(b), counted on mints
    }

    /// One storage slot.
    struct Counters {
        uint32 holders;
        uint32 nonAccreditedHolders;
        uint32 usHolders;
        uint32 nonAccreditedPurchasers;
        uint128 trackedSupply; // sum of the balances of attached wallets
    }

    /// Per investor (ONCHAINID), one storage slot.
    struct Investor {
        uint128 balance; // sum of the balances of its attached wallets
        uint32 wallets; // attached wallets (balance > 0)
        bool accredited;
        bool usPerson; // a US person (230.902(k)) even if the registry country is not 840
        bool liquidateOnly; // may sell, may not acquire (no transfer in, no mint)
        bool issuer; // the issuer itself: may receive tokens under a Reg CF lock (227.501(a)(1))
        bool purchased; // counted among the non-accredited purchasers
    }

    /// A wallet must keep at least `amount` while block.timestamp < `until`.
    struct Lock {
        uint128 amount;
        uint64 until; // unix seconds; type(uint64).max: until changed
        bool accreditedMayReceive; // Reg CF: the locked part may still go to an accredited investor or the issuer
    }

    struct State {
        Limits limits;
        Counters counters;
        uint128 maxBalance; // per investor, base units
        uint128 minHolding; // per investor after any transfer: 0 or at least this
        uint256[4] allowed; // bitmaps of ISO 3166-1 numeric codes 0..999
        uint256[4] blocked;
        mapping(address => Investor) investors; // identity => investor
        mapping(address => address) walletInvestor; // attached wallet => identity
        mapping(address => Lock[]) locks; // wallet => locks
    }

    /// A transfer being checked (a struct keeps the checks below the stack limit).
    struct Transfer {
        IToken token;
        IIdentityRegistry registry;
        address from; // zero: a mint
        address to;
        uint256 value;
        address fromId;
        address toId;
        bool sameInvestor;
    }

    mapping(address => State) private _state;

    event CountryPolicySet(address indexed compliance, uint16[] allowed, uint16[] blocked);
    event UsPersonBlockedUntilSet(address indexed compliance, uint64 until);
    event MaxBalanceSet(address indexed compliance, uint256 maxBalance);
    event MaxSupplyShareSet(address indexed compliance, uint16 bps);
    event MinHoldingSet(address indexed compliance, uint256 minHolding);
    event HolderCapsSet(address indexed compliance, uint32 maxHolders, uint32 maxNonAccreditedHolders, uint32 maxUsHolders);
    event MaxNonAccreditedPurchasersSet(address indexed compliance, uint32 maxPurchasers);
    event InvestorFlagsSet(
        address indexed compliance, address indexed identity, bool accredited, bool usPerson, bool liquidateOnly, bool issuer
    );
    event LocksSet(address indexed compliance, address indexed wallet, Lock[] locks);
    event LockAdded(address indexed compliance, address indexed wallet, Lock lock);

    modifier onlyComplianceOwner(address _compliance) {
        require(msg.sender == _compliance || msg.sender == Ownable(_compliance).owner(), "only compliance owner");
        _;
    }

    // ---------------------------------------------------------------- settings (compliance owner)

    /// @notice Replaces the country lists (ISO 3166-1 numeric, 0..999). A non-empty `_allowed` list admits only
    ///         receivers from those countries; `_blocked` (the issuer's list and sanctioned countries) refuses both
    ///         the receiver and, except on a mint, the sender.
    function setCountryPolicy(address _compliance, uint16[] calldata _allowed, uint16[] calldata _blocked)
        external
        onlyComplianceOwner(_compliance)
    {
        State storage st = _state[_compliance];
        st.allowed = _bitmap(_allowed);
        st.blocked = _bitmap(_blocked);
        st.limits.allowList = _allowed.length > 0;
        st.limits.blockList = _blocked.length > 0;
        emit CountryPolicySet(_compliance, _allowed, _blocked);
    }

    /// @notice Reg S distribution compliance period: no US person receives before `_until` (unix seconds; 0: none).
    function setUsPersonBlockedUntil(address _compliance, uint64 _until) external onlyComplianceOwner(_compliance) {
        _state[_compliance].limits.usPersonBlockedUntil = _until;
        emit UsPersonBlockedUntilSet(_compliance, _until);
    }

    /// @notice Maximum balance of one investor (all its wallets), base units; 0: none.
    function setMaxBalance(address _compliance, uint256 _maxBalance) external onlyComplianceOwner(_compliance) {
        _state[_compliance].maxBalance = _u128(_maxBalance);
        emit MaxBalanceSet(_compliance, _maxBalance);
    }

    /// @notice Maximum share of the supply (after the transfer; a mint grows it) one investor may hold, in basis
    ///         points; 0: none.
    function setMaxSupplyShare(address _compliance, uint16 _bps) external onlyComplianceOwner(_compliance) {
        require(_bps <= 10_000, "share over 10000 bps");
        _state[_compliance].limits.maxSupplyShareBps = _bps;
        emit MaxSupplyShareSet(_compliance, _bps);
    }

    /// @notice Minimum holding: after a transfer each investor holds 0 or at least this, base units; 0: none.
    function setMinHolding(address _compliance, uint256 _minHolding) external onlyComplianceOwner(_compliance) {
        _state[_compliance].minHolding = _u128(_minHolding);
        emit MinHoldingSet(_compliance, _minHolding);
    }

    /// @notice Caps on the number of investors holding the token; 0: no cap.
    function setHolderCaps(address _compliance, uint32 _maxHolders, uint32 _maxNonAccreditedHolders, uint32 _maxUsHolders)
        external
        onlyComplianceOwner(_compliance)
    {
        Limits storage l = _state[_compliance].limits;
        l.maxHolders = _maxHolders;
        l.maxNonAccreditedHolders = _maxNonAccreditedHolders;
        l.maxUsHolders = _maxUsHolders;
        emit HolderCapsSet(_compliance, _maxHolders, _maxNonAccreditedHolders, _maxUsHolders);
    }

    /// @notice Reg D 506(b): at most this many distinct non-accredited investors may receive a mint; 0: no cap.
    function setMaxNonAccreditedPurchasers(address _compliance, uint32 _max) external onlyComplianceOwner(_compliance) {
        _state[_compliance].limits.maxNonAccreditedPurchasers = _max;
        emit MaxNonAccreditedPurchasersSet(_compliance, _max);
    }

    /// @notice Flags of an investor (ONCHAINID). An investor without flags counts as non-accredited.
    function setInvestorFlags(
        address _compliance,
        address _identity,
        bool _accredited,
        bool _usPerson,
        bool _liquidateOnly,
        bool _issuer
    ) external onlyComplianceOwner(_compliance) {
        require(_identity != address(0), "invalid argument - zero address");
        State storage st = _state[_compliance];
        Investor storage inv = st.investors[_identity];
        if (inv.wallets > 0) {
            Counters storage c = st.counters;
            if (inv.accredited != _accredited) {
                c.nonAccreditedHolders = _accredited ? _dec(c.nonAccreditedHolders) : c.nonAccreditedHolders + 1;
            }
            if (inv.usPerson != _usPerson) c.usHolders = _usPerson ? c.usHolders + 1 : _dec(c.usHolders);
        }
        inv.accredited = _accredited;
        inv.usPerson = _usPerson;
        inv.liquidateOnly = _liquidateOnly;
        inv.issuer = _issuer;
        emit InvestorFlagsSet(_compliance, _identity, _accredited, _usPerson, _liquidateOnly, _issuer);
    }

    /// @notice Replaces the locks of a wallet (empty: unlocks it).
    function setLocks(address _compliance, address _wallet, Lock[] calldata _locks) external onlyComplianceOwner(_compliance) {
        require(_locks.length <= MAX_LOCKS, "too many locks");
        Lock[] storage locks = _state[_compliance].locks[_wallet];
        delete _state[_compliance].locks[_wallet];
        for (uint256 i = 0; i < _locks.length; i++) locks.push(_locks[i]);
        emit LocksSet(_compliance, _wallet, _locks);
    }

    /// @notice Adds one lock to a wallet (e.g. a newly issued lot), dropping the wallet's expired locks first.
    function addLock(address _compliance, address _wallet, Lock calldata _lock) external onlyComplianceOwner(_compliance) {
        Lock[] storage locks = _state[_compliance].locks[_wallet];
        uint256 kept = 0;
        uint256 n = locks.length;
        for (uint256 i = 0; i < n; i++) {
            if (locks[i].until > block.timestamp) {
                if (kept != i) locks[kept] = locks[i];
                kept++;
            }
        }
        for (; n > kept; n--) locks.pop();
        require(kept < MAX_LOCKS, "too many locks");
        locks.push(_lock);
        emit LockAdded(_compliance, _wallet, _lock);
    }

    /// @notice Reconciles the holder records of `_wallets` with the token's balances and the identity registry:
    ///         attaches wallets that hold tokens but are not counted, detaches empty ones, moves a wallet whose
    ///         registry identity changed. Anyone may call it (it only copies chain state). Needed before binding
    ///         to a token that already has holders (canComplianceBind is true once every token is accounted for).
    function syncHolders(address _compliance, address[] calldata _wallets) external {
        State storage st = _state[_compliance];
        IToken token = IToken(IModularCompliance(_compliance).getTokenBound());
        require(address(token) != address(0), "compliance has no token");
        IIdentityRegistry registry = token.identityRegistry();
        for (uint256 i = 0; i < _wallets.length; i++) {
            address w = _wallets[i];
            uint256 bal = token.balanceOf(w);
            address current = st.walletInvestor[w];
            address target = address(0);
            if (bal != 0) {
                // A wallet the registry forgot (deleteIdentity) stays with the investor it was counted under.
                target = address(registry.identity(w));
                if (target == address(0)) target = current != address(0) ? current : w;
            }
            if (current == target) continue;
            if (current != address(0)) {
                Investor storage inv = st.investors[current];
                inv.balance = uint128(_sub(inv.balance, bal));
                st.counters.trackedSupply = uint128(_sub(st.counters.trackedSupply, bal));
                _detach(st, w, current);
            }
            if (target != address(0)) {
                _attach(st, w, target, bal);
                st.counters.trackedSupply = _u128(st.counters.trackedSupply + bal);
            }
        }
    }

    // ---------------------------------------------------------------- views

    function getLimits(address _compliance) external view returns (Limits memory limits, uint256 maxBalance, uint256 minHolding) {
        State storage st = _state[_compliance];
        return (st.limits, st.maxBalance, st.minHolding);
    }

    function getCounters(address _compliance) external view returns (Counters memory) {
        return _state[_compliance].counters;
    }

    /// @notice The country lists, ascending.
    function getCountries(address _compliance) external view returns (uint16[] memory allowed, uint16[] memory blocked) {
        State storage st = _state[_compliance];
        return (_codes(st.allowed), _codes(st.blocked));
    }

    function getInvestor(address _compliance, address _identity) external view returns (Investor memory) {
        return _state[_compliance].investors[_identity];
    }

    /// @notice The identity a wallet is counted under; zero while the wallet holds nothing.
    function walletInvestor(address _compliance, address _wallet) external view returns (address) {
        return _state[_compliance].walletInvestor[_wallet];
    }

    function getLocks(address _compliance, address _wallet) external view returns (Lock[] memory) {
        return _state[_compliance].locks[_wallet];
    }

    /// @notice What the wallet must keep now; `_receiverExempt`: the receiver is accredited or the issuer.
    function lockedBalance(address _compliance, address _wallet, bool _receiverExempt) external view returns (uint256) {
        return _locked(_state[_compliance].locks[_wallet], _receiverExempt);
    }

    /// @notice Every rule of this module the transfer breaks, as bits (0: allowed); `_from` zero: a mint.
    ///         See the RULE_ constants for the bits.
    function failedRules(address _from, address _to, uint256 _value, address _compliance) public view returns (uint256 failed) {
        IToken token = IToken(IModularCompliance(_compliance).getTokenBound());
        if (address(token) == address(0)) return RULE_NO_TOKEN;
        State storage st = _state[_compliance];
        Transfer memory t;
        t.token = token;
        t.registry = token.identityRegistry();
        t.from = _from;
        t.to = _to;
        t.value = _value;
        t.toId = _investorOf(st, t.registry, _to);
        if (_from != address(0)) t.fromId = _investorOf(st, t.registry, _from);
        t.sameInvestor = t.fromId == t.toId;
        Limits memory l = st.limits;
        Investor memory toInv = st.investors[t.toId];

        failed = _countryRules(st, l, t, toInv) | _holdingRules(st, l, t) | _capRules(st, l, t, toInv) | _lockRule(st, t, toInv);
        if (toInv.liquidateOnly) failed |= RULE_LIQUIDATE_ONLY;
    }

    // ---------------------------------------------------------------- IModule

    function moduleCheck(address _from, address _to, uint256 _value, address _compliance) external view override returns (bool) {
        return failedRules(_from, _to, _value, _compliance) == 0;
    }

    /// @dev T-REX calls this after moving the balances.
    function moduleTransferAction(address _from, address _to, uint256 _value) external override onlyComplianceCall {
        if (_from == _to) return;
        State storage st = _state[msg.sender];
        IToken token = IToken(IModularCompliance(msg.sender).getTokenBound());
        uint256 debited = _debit(st, token, _from, _value);
        uint256 credited = _credit(st, token, _to, _value);
        // Between two counted wallets the tracked supply does not change: no write.
        if (credited != debited) {
            st.counters.trackedSupply = uint128(_sub(st.counters.trackedSupply + credited, debited));
        }
    }

    function moduleMintAction(address _to, uint256 _value) external override onlyComplianceCall {
        State storage st = _state[msg.sender];
        uint256 credited = _credit(st, IToken(IModularCompliance(msg.sender).getTokenBound()), _to, _value);
        Counters storage c = st.counters;
        c.trackedSupply = _u128(c.trackedSupply + credited);
        Investor storage inv = st.investors[st.walletInvestor[_to]];
        if (!inv.accredited && !inv.purchased) {
            inv.purchased = true;
            c.nonAccreditedPurchasers += 1;
        }
    }

    function moduleBurnAction(address _from, uint256 _value) external override onlyComplianceCall {
        State storage st = _state[msg.sender];
        uint256 debited = _debit(st, IToken(IModularCompliance(msg.sender).getTokenBound()), _from, _value);
        st.counters.trackedSupply = uint128(_sub(st.counters.trackedSupply, debited));
    }

    /// @notice True once the module accounts for every token in circulation (a new token, or syncHolders done).
    function canComplianceBind(address _compliance) external view override returns (bool) {
        address token = IModularCompliance(_compliance).getTokenBound();
        return token == address(0) || IToken(token).totalSupply() == _state[_compliance].counters.trackedSupply;
    }

    function isPlugAndPlay() external pure override returns (bool) {
        return false;
    }

    function name() external pure override returns (string memory) {
        return "TokenstackRulesModule";
    }

    // ---------------------------------------------------------------- checks

    /// Allow list on the receiver; block list on the receiver and the sender; Reg S on the receiver.
    function _countryRules(State storage st, Limits memory l, Transfer memory t, Investor memory toInv)
        private
        view
        returns (uint256 failed)
    {
        bool usBlock = block.timestamp < l.usPersonBlockedUntil;
        if (!l.allowList && !l.blockList && !usBlock) return 0;
        uint16 country = t.registry.investorCountry(t.to);
        if (l.allowList && !_listed(st.allowed, country)) failed |= RULE_COUNTRY_RECEIVER;
        if (l.blockList && _listed(st.blocked, country)) failed |= RULE_COUNTRY_RECEIVER;
        if (l.blockList && t.from != address(0) && _listed(st.blocked, t.registry.investorCountry(t.from))) {
            failed |= RULE_COUNTRY_SENDER;
        }
        if (usBlock && (country == US || toInv.usPerson)) failed |= RULE_US_PERSON;
    }

    /// Per investor, after the transfer (a move between two wallets of one investor changes nothing): the receiver
    /// within the max balance and max share of supply; both sides at 0 or at least the min holding.
    function _holdingRules(State storage st, Limits memory l, Transfer memory t) private view returns (uint256 failed) {
        uint256 maxBalance = st.maxBalance;
        uint256 minHolding = st.minHolding;
        if (maxBalance == 0 && minHolding == 0 && l.maxSupplyShareBps == 0) return 0;
        uint256 toAfter = _investorBalance(st, t.token, t.toId, t.to);
        if (!t.sameInvestor) {
            toAfter += t.value;
            if (maxBalance != 0 && toAfter > maxBalance) failed |= RULE_MAX_BALANCE;
            if (l.maxSupplyShareBps != 0) {
                uint256 supplyAfter = t.token.totalSupply() + (t.from == address(0) ? t.value : 0);
                if (toAfter * 10_000 > supplyAfter * l.maxSupplyShareBps) failed |= RULE_MAX_SUPPLY_SHARE;
            }
        }
        if (minHolding != 0) {
            if (toAfter != 0 && toAfter < minHolding) failed |= RULE_MIN_HOLDING;
            if (t.from != address(0)) {
                uint256 fromAfter = _investorBalance(st, t.token, t.fromId, t.from);
                if (!t.sameInvestor) fromAfter = fromAfter > t.value ? fromAfter - t.value : 0;
                if (fromAfter != 0 && fromAfter < minHolding) failed |= RULE_MIN_HOLDING;
            }
        }
    }

    /// A count can only rise when the receiving investor holds nothing yet, and not if the sending investor leaves
    /// at the same time with the same attribute: a transfer that does not raise a count is never refused by it.
    function _capRules(State storage st, Limits memory l, Transfer memory t, Investor memory toInv)
        private
        view
        returns (uint256 failed)
    {
        if (t.from == address(0) && l.maxNonAccreditedPurchasers != 0 && !toInv.accredited && !toInv.purchased) {
            if (st.counters.nonAccreditedPurchasers >= l.maxNonAccreditedPurchasers) failed |= RULE_NON_ACCREDITED_PURCHASERS;
        }
        if (t.sameInvestor || toInv.wallets != 0) return failed;
        if (l.maxHolders == 0 && l.maxNonAccreditedHolders == 0 && l.maxUsHolders == 0) return failed;
        Counters memory c = st.counters;
        Investor memory fromInv; // stays empty unless the sender leaves
        if (t.from != address(0) && st.walletInvestor[t.from] != address(0)) {
            Investor memory f = st.investors[t.fromId];
            if (f.balance <= t.value) fromInv = f;
        }
        bool fromLeaves = fromInv.wallets != 0;
        if (l.maxHolders != 0 && !fromLeaves && c.holders >= l.maxHolders) failed |= RULE_HOLDER_CAP;
        if (
            l.maxNonAccreditedHolders != 0 && !toInv.accredited && !(fromLeaves && !fromInv.accredited)
                && c.nonAccreditedHolders >= l.maxNonAccreditedHolders
        ) failed |= RULE_NON_ACCREDITED_CAP;
        if (l.maxUsHolders != 0 && toInv.usPerson && !(fromLeaves && fromInv.usPerson) && c.usHolders >= l.maxUsHolders) {
            failed |= RULE_US_HOLDER_CAP;
        }
    }

    /// The sender keeps its locked amount; a lock marked accreditedMayReceive does not hold back a transfer to an
    /// accredited investor or the issuer.
    function _lockRule(State storage st, Transfer memory t, Investor memory toInv) private view returns (uint256) {
        if (t.from == address(0)) return 0;
        uint256 locked = _locked(st.locks[t.from], toInv.accredited || toInv.issuer);
        if (locked == 0) return 0;
        uint256 bal = t.token.balanceOf(t.from);
        return bal < t.value || bal - t.value < locked ? RULE_LOCKED : 0;
    }

    // ---------------------------------------------------------------- bookkeeping

    /// Returns what the tracked supply gains (the caller writes it once).
    function _credit(State storage st, IToken token, address _wallet, uint256 _value) private returns (uint256) {
        address id = st.walletInvestor[_wallet];
        if (id != address(0)) {
            Investor storage inv = st.investors[id];
            inv.balance = _u128(inv.balance + _value);
            return _value;
        }
        // First tokens (or first seen): count the whole balance, which already includes _value.
        uint256 bal = token.balanceOf(_wallet);
        _attach(st, _wallet, _identityOf(token.identityRegistry(), _wallet), bal);
        return bal;
    }

    /// Returns what the tracked supply loses (the caller writes it once).
    function _debit(State storage st, IToken token, address _wallet, uint256 _value) private returns (uint256) {
        address id = st.walletInvestor[_wallet];
        if (id == address(0)) return 0; // a balance the module never saw (see syncHolders)
        Investor storage inv = st.investors[id];
        // Saturating: a bookkeeping gap must never make the token unusable.
        inv.balance = uint128(_sub(inv.balance, _value));
        if (token.balanceOf(_wallet) == 0) _detach(st, _wallet, id);
        return _value;
    }

    /// Counts `_wallet` under `_id` with `_balance`; the caller adds `_balance` to the tracked supply.
    function _attach(State storage st, address _wallet, address _id, uint256 _balance) private {
        if (_balance == 0) return;
        st.walletInvestor[_wallet] = _id;
        Investor storage inv = st.investors[_id];
        inv.balance = _u128(inv.balance + _balance);
        if (inv.wallets++ == 0) {
            Counters storage c = st.counters;
            c.holders += 1;
            if (!inv.accredited) c.nonAccreditedHolders += 1;
            if (inv.usPerson) c.usHolders += 1;
        }
    }

    function _detach(State storage st, address _wallet, address _id) private {
        delete st.walletInvestor[_wallet];
        Investor storage inv = st.investors[_id];
        if (inv.wallets == 0) return;
        if (--inv.wallets == 0) {
            Counters storage c = st.counters;
            c.holders = _dec(c.holders);
            if (!inv.accredited) c.nonAccreditedHolders = _dec(c.nonAccreditedHolders);
            if (inv.usPerson) c.usHolders = _dec(c.usHolders);
        }
    }

    // ---------------------------------------------------------------- helpers

    /// The identity a wallet counts under: the one it is attached to, else the registry's.
    function _investorOf(State storage st, IIdentityRegistry registry, address _wallet) private view returns (address) {
        address id = st.walletInvestor[_wallet];
        return id != address(0) ? id : _identityOf(registry, _wallet);
    }

    /// The wallet's ONCHAINID; a wallet the registry does not know counts as its own investor.
    function _identityOf(IIdentityRegistry registry, address _wallet) private view returns (address) {
        address id = address(registry.identity(_wallet));
        return id != address(0) ? id : _wallet;
    }

    /// The investor's balance as the module counts it, plus the wallet's own balance if the module never saw it.
    function _investorBalance(State storage st, IToken token, address _id, address _wallet) private view returns (uint256) {
        uint256 bal = st.investors[_id].balance;
        if (st.walletInvestor[_wallet] == address(0)) bal += token.balanceOf(_wallet);
        return bal;
    }

    function _locked(Lock[] storage locks, bool _receiverExempt) private view returns (uint256 total) {
        uint256 n = locks.length;
        for (uint256 i = 0; i < n; i++) {
            Lock memory l = locks[i];
            if (l.until > block.timestamp && !(l.accreditedMayReceive && _receiverExempt)) total += l.amount;
        }
    }

    function _bitmap(uint16[] calldata _countries) private pure returns (uint256[4] memory bits) {
        for (uint256 i = 0; i < _countries.length; i++) {
            uint16 c = _countries[i];
            require(c <= 999, "country code not ISO 3166-1 numeric");
            bits[c >> 8] |= uint256(1) << (c & 0xff);
        }
    }

    function _codes(uint256[4] memory b) private pure returns (uint16[] memory codes) {
        uint16[] memory all = new uint16[](1000);
        uint256 n = 0;
        for (uint16 c = 0; c <= 999; c++) {
            if (b[c >> 8] & (uint256(1) << (c & 0xff)) != 0) all[n++] = c;
        }
        codes = new uint16[](n);
        for (uint256 i = 0; i < n; i++) codes[i] = all[i];
    }

    function _listed(uint256[4] storage bits, uint16 _country) private view returns (bool) {
        return _country <= 999 && bits[_country >> 8] & (uint256(1) << (_country & 0xff)) != 0;
    }

    function _u128(uint256 x) private pure returns (uint128) {
        require(x <= type(uint128).max, "amount exceeds uint128");
        return uint128(x);
    }

    function _sub(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a - b : 0;
    }

    function _dec(uint32 x) private pure returns (uint32) {
        return x > 0 ? x - 1 : 0;
    }
}
