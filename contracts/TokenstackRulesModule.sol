// SPDX-License-Identifier: GPL-3.0
pragma solidity ^0.8.17;

import "@tokenysolutions/t-rex/contracts/compliance/modular/modules/AbstractModule.sol";
import "@tokenysolutions/t-rex/contracts/compliance/modular/IModularCompliance.sol";
import "@tokenysolutions/t-rex/contracts/token/IToken.sol";
import "@tokenysolutions/t-rex/contracts/registry/interface/IIdentityRegistry.sol";
import "@openzeppelin/contracts/access/Ownable.sol";

/// @title TokenstackRulesModule
/// @notice tokenstack's issuer rules for ERC-3643 (T-REX) tokens, enforced on chain so that a transfer the
///         off-chain compliance engine refuses is also refused by the token: receiver country allow / block list,
///         Reg S distribution compliance period (no US persons), liquidate-only investors, max and min holding per
///         investor, holder caps (total and non-accredited, 12(g) / 3(c)(1)) and per-wallet time locks (Rule 144
///         holding periods, Reg CF resale restriction).
/// @dev Written for tokenstack on T-REX's AbstractModule (GPL-3.0). One deployment serves any number of
///      ModularCompliance contracts: every setting and counter is kept per compliance. Settings are changed by the
///      compliance's owner, directly or through ModularCompliance.callModuleFunction.
///
///      An investor is an ONCHAINID identity (IdentityRegistry.identity(wallet)); balances, holder counts and flags
///      are per investor, locks are per wallet. The module follows every balance change through the compliance
///      callbacks, which T-REX makes AFTER moving the balance (transfer, forcedTransfer, mint, burn): a wallet is
///      "attached" to its investor when its balance goes from 0 to > 0 and "detached" when it goes back to 0; an
///      investor is a holder while at least one of its wallets is attached.
contract TokenstackRulesModule is AbstractModule {
    /// ISO 3166-1 numeric code of the United States.
    uint16 internal constant US = 840;
    /// Locks per wallet: each costs one storage read on every transfer from that wallet.
    uint256 public constant MAX_LOCKS = 16;

    // Bits of failedRules(); mirrored in subgraphs/kit/chain/modules.ts.
    uint256 internal constant RULE_COUNTRY = 1 << 0;
    uint256 internal constant RULE_US_PERSON = 1 << 1;
    uint256 internal constant RULE_LIQUIDATE_ONLY = 1 << 2;
    uint256 internal constant RULE_MAX_BALANCE = 1 << 3;
    uint256 internal constant RULE_MIN_HOLDING = 1 << 4;
    uint256 internal constant RULE_HOLDER_CAP = 1 << 5;
    uint256 internal constant RULE_NON_ACCREDITED_CAP = 1 << 6;
    uint256 internal constant RULE_LOCKED = 1 << 7;
    uint256 internal constant RULE_NO_TOKEN = 1 << 8;

    enum CountryMode {
        NONE, // no country rule
        ALLOW, // the receiver's country must be listed
        BLOCK // the receiver's country must not be listed
    }

    /// One storage slot: read once per check.
    struct Settings {
        CountryMode countryMode;
        uint64 usPersonBlockedUntil; // Reg S: US persons may not receive while block.timestamp < this
        uint32 maxHolders; // 0: no cap
        uint32 maxNonAccreditedHolders; // 0: no cap
        uint32 holders;
        uint32 nonAccreditedHolders;
    }

    /// Per investor (ONCHAINID), one storage slot.
    struct Investor {
        uint128 balance; // sum of the balances of its attached wallets
        uint32 wallets; // attached wallets (balance > 0)
        bool accredited;
        bool usPerson; // a US person even if the registry country is not 840
        bool liquidateOnly; // may sell, may not acquire (no transfer in, no mint)
    }

    /// A wallet must keep at least `amount` while block.timestamp < `until`.
    struct Lock {
        uint128 amount;
        uint64 until; // unix seconds; type(uint64).max: until changed
        bool accreditedMayReceive; // Reg CF: the locked part may still go to an accredited investor
    }

    struct State {
        Settings settings;
        uint128 maxBalance; // per investor, base units; 0: no maximum
        uint128 minHolding; // per investor after any transfer (0 or at least this), base units
        uint256 trackedSupply; // sum of the balances of attached wallets
        uint256[4] countries; // bitmap of ISO 3166-1 numeric codes 0..999
        mapping(address => Investor) investors; // identity => investor
        mapping(address => address) walletInvestor; // attached wallet => identity
        mapping(address => Lock[]) locks; // wallet => locks
    }

    mapping(address => State) private _state;

    /// A transfer being checked (a struct keeps the checks below the stack limit).
    struct Transfer {
        IToken token;
        IIdentityRegistry registry;
        address from; // zero: a mint
        address to;
        uint256 value;
        address fromId;
        address toId;
    }

    event CountryPolicySet(address indexed compliance, CountryMode mode, uint16[] countries);
    event UsPersonBlockedUntilSet(address indexed compliance, uint64 until);
    event MaxBalanceSet(address indexed compliance, uint256 maxBalance);
    event MinHoldingSet(address indexed compliance, uint256 minHolding);
    event HolderCapsSet(address indexed compliance, uint32 maxHolders, uint32 maxNonAccreditedHolders);
    event InvestorFlagsSet(address indexed compliance, address indexed identity, bool accredited, bool usPerson, bool liquidateOnly);
    event LocksSet(address indexed compliance, address indexed wallet, Lock[] locks);
    event LockAdded(address indexed compliance, address indexed wallet, Lock lock);

    modifier onlyComplianceOwner(address _compliance) {
        require(
            msg.sender == _compliance || msg.sender == Ownable(_compliance).owner(),
            "only compliance owner"
        );
        _;
    }

    // ---------------------------------------------------------------- settings (compliance owner)

    /// @notice Replaces the country rule. Codes are ISO 3166-1 numeric (0..999); mode NONE ignores them.
    function setCountryPolicy(address _compliance, CountryMode _mode, uint16[] calldata _countries)
        external
        onlyComplianceOwner(_compliance)
    {
        uint256[4] memory bits;
        for (uint256 i = 0; i < _countries.length; i++) {
            uint16 c = _countries[i];
            require(c <= 999, "country code not ISO 3166-1 numeric");
            bits[c >> 8] |= uint256(1) << (c & 0xff);
        }
        State storage st = _state[_compliance];
        st.countries = bits;
        st.settings.countryMode = _mode;
        emit CountryPolicySet(_compliance, _mode, _countries);
    }

    /// @notice Reg S distribution compliance period: no US person receives before `_until` (unix seconds; 0: none).
    function setUsPersonBlockedUntil(address _compliance, uint64 _until) external onlyComplianceOwner(_compliance) {
        _state[_compliance].settings.usPersonBlockedUntil = _until;
        emit UsPersonBlockedUntilSet(_compliance, _until);
    }

    /// @notice Maximum balance of one investor (all its wallets), base units; 0: no maximum.
    function setMaxBalance(address _compliance, uint256 _maxBalance) external onlyComplianceOwner(_compliance) {
        _state[_compliance].maxBalance = _u128(_maxBalance);
        emit MaxBalanceSet(_compliance, _maxBalance);
    }

    /// @notice Minimum holding: after a transfer each party holds 0 or at least this; 0: none.
    function setMinHolding(address _compliance, uint256 _minHolding) external onlyComplianceOwner(_compliance) {
        _state[_compliance].minHolding = _u128(_minHolding);
        emit MinHoldingSet(_compliance, _minHolding);
    }

    /// @notice Caps on the number of investors holding the token; 0: no cap.
    function setHolderCaps(address _compliance, uint32 _maxHolders, uint32 _maxNonAccreditedHolders)
        external
        onlyComplianceOwner(_compliance)
    {
        Settings storage s = _state[_compliance].settings;
        s.maxHolders = _maxHolders;
        s.maxNonAccreditedHolders = _maxNonAccreditedHolders;
        emit HolderCapsSet(_compliance, _maxHolders, _maxNonAccreditedHolders);
    }

    /// @notice Flags of an investor (ONCHAINID). An investor without flags counts as non-accredited.
    function setInvestorFlags(address _compliance, address _identity, bool _accredited, bool _usPerson, bool _liquidateOnly)
        external
        onlyComplianceOwner(_compliance)
    {
        require(_identity != address(0), "invalid argument - zero address");
        State storage st = _state[_compliance];
        Investor storage inv = st.investors[_identity];
        if (inv.wallets > 0 && inv.accredited != _accredited) {
            if (_accredited) st.settings.nonAccreditedHolders = _dec(st.settings.nonAccreditedHolders);
            else st.settings.nonAccreditedHolders += 1;
        }
        inv.accredited = _accredited;
        inv.usPerson = _usPerson;
        inv.liquidateOnly = _liquidateOnly;
        emit InvestorFlagsSet(_compliance, _identity, _accredited, _usPerson, _liquidateOnly);
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
    ///         attaches wallets that hold tokens but are not counted, detaches empty ones, follows a wallet whose
    ///         identity changed. Anyone may call it (it only copies chain state). Needed before binding to a token
    ///         that already has holders (canComplianceBind is true once every token is accounted for).
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
                st.trackedSupply = _sub(st.trackedSupply, bal);
                _detach(st, w, current);
            }
            if (target != address(0)) {
                _attach(st, w, target, bal);
                st.trackedSupply += bal;
            }
        }
    }

    // ---------------------------------------------------------------- views

    function getSettings(address _compliance)
        external
        view
        returns (
            CountryMode countryMode,
            uint64 usPersonBlockedUntil,
            uint256 maxBalance,
            uint256 minHolding,
            uint32 maxHolders,
            uint32 maxNonAccreditedHolders
        )
    {
        State storage st = _state[_compliance];
        Settings memory s = st.settings;
        return (s.countryMode, s.usPersonBlockedUntil, st.maxBalance, st.minHolding, s.maxHolders, s.maxNonAccreditedHolders);
    }

    /// @notice The listed countries, ascending.
    function getCountries(address _compliance) external view returns (uint16[] memory countries) {
        uint256[4] memory bits = _state[_compliance].countries;
        uint16[] memory all = new uint16[](1000);
        uint256 n = 0;
        for (uint16 c = 0; c <= 999; c++) {
            if (bits[c >> 8] & (uint256(1) << (c & 0xff)) != 0) all[n++] = c;
        }
        countries = new uint16[](n);
        for (uint256 i = 0; i < n; i++) countries[i] = all[i];
    }

    function holderCounts(address _compliance)
        external
        view
        returns (uint32 holders, uint32 nonAccreditedHolders, uint256 trackedSupply)
    {
        State storage st = _state[_compliance];
        return (st.settings.holders, st.settings.nonAccreditedHolders, st.trackedSupply);
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

    /// @notice What the wallet must keep now; `_toAccredited`: the receiver is an accredited investor.
    function lockedBalance(address _compliance, address _wallet, bool _toAccredited) external view returns (uint256) {
        return _locked(_state[_compliance].locks[_wallet], _toAccredited);
    }

    /// @notice Every rule the transfer breaks, as bits (0: allowed). `_from` zero: a mint.
    ///         1 country, 2 US person (Reg S), 4 liquidate-only, 8 max balance, 16 min holding,
    ///         32 holder cap, 64 non-accredited holder cap, 128 locked, 256 compliance has no token.
    function failedRules(address _from, address _to, uint256 _value, address _compliance) public view returns (uint256 failed) {
        IToken token = IToken(IModularCompliance(_compliance).getTokenBound());
        if (address(token) == address(0)) return RULE_NO_TOKEN;
        State storage st = _state[_compliance];
        Transfer memory t = Transfer({
            token: token,
            registry: token.identityRegistry(),
            from: _from,
            to: _to,
            value: _value,
            fromId: address(0),
            toId: address(0)
        });
        t.toId = _investorOf(st, t.registry, _to);
        // A mint has no sender; two wallets of one investor share an identity.
        if (_from != address(0)) t.fromId = _investorOf(st, t.registry, _from);
        Investor memory toInv = st.investors[t.toId];

        failed = _jurisdictionRules(st, t, toInv) | _holdingRules(st, t) | _holderCapRules(st, t, toInv) | _lockRule(st, t, toInv);
        if (toInv.liquidateOnly) failed |= RULE_LIQUIDATE_ONLY;
    }

    // ---------------------------------------------------------------- IModule

    function moduleCheck(address _from, address _to, uint256 _value, address _compliance) external view override returns (bool) {
        return failedRules(_from, _to, _value, _compliance) == 0;
    }

    /// @dev Called by the compliance after the token moved the balances.
    function moduleTransferAction(address _from, address _to, uint256 _value) external override onlyComplianceCall {
        if (_from == _to) return;
        State storage st = _state[msg.sender];
        IToken token = IToken(IModularCompliance(msg.sender).getTokenBound());
        uint256 debited = _debit(st, token, _from, _value);
        uint256 credited = _credit(st, token, _to, _value);
        // Between two counted wallets the tracked supply does not change: no write.
        if (credited != debited) st.trackedSupply = _sub(st.trackedSupply + credited, debited);
    }

    function moduleMintAction(address _to, uint256 _value) external override onlyComplianceCall {
        State storage st = _state[msg.sender];
        st.trackedSupply += _credit(st, IToken(IModularCompliance(msg.sender).getTokenBound()), _to, _value);
    }

    function moduleBurnAction(address _from, uint256 _value) external override onlyComplianceCall {
        State storage st = _state[msg.sender];
        st.trackedSupply = _sub(st.trackedSupply, _debit(st, IToken(IModularCompliance(msg.sender).getTokenBound()), _from, _value));
    }

    /// @notice True once the module accounts for every token in circulation (a new token, or syncHolders done).
    function canComplianceBind(address _compliance) external view override returns (bool) {
        address token = IModularCompliance(_compliance).getTokenBound();
        return token == address(0) || IToken(token).totalSupply() == _state[_compliance].trackedSupply;
    }

    function isPlugAndPlay() external pure override returns (bool) {
        return false;
    }

    function name() external pure override returns (string memory) {
        return "TokenstackRulesModule";
    }

    // ---------------------------------------------------------------- checks

    /// Receiver's country against the allow / block list; Reg S: no US person before usPersonBlockedUntil.
    function _jurisdictionRules(State storage st, Transfer memory t, Investor memory toInv) private view returns (uint256 failed) {
        Settings memory s = st.settings;
        bool usBlock = block.timestamp < s.usPersonBlockedUntil;
        if (s.countryMode == CountryMode.NONE && !usBlock) return 0;
        uint16 country = t.registry.investorCountry(t.to);
        if (s.countryMode != CountryMode.NONE && _listed(st.countries, country) != (s.countryMode == CountryMode.ALLOW)) {
            failed |= RULE_COUNTRY;
        }
        if (usBlock && (country == US || toInv.usPerson)) failed |= RULE_US_PERSON;
    }

    /// Max balance of the receiving investor; min holding of both investors (0 or at least the minimum after).
    /// Moving tokens between two wallets of one investor changes neither.
    function _holdingRules(State storage st, Transfer memory t) private view returns (uint256 failed) {
        if (t.fromId == t.toId) return 0;
        uint256 maxBalance = st.maxBalance;
        uint256 minHolding = st.minHolding;
        if (maxBalance == 0 && minHolding == 0) return 0;
        uint256 toAfter = _investorBalance(st, t.token, t.toId, t.to) + t.value;
        if (maxBalance != 0 && toAfter > maxBalance) failed |= RULE_MAX_BALANCE;
        if (toAfter < minHolding) failed |= RULE_MIN_HOLDING;
        if (t.from != address(0) && minHolding != 0) {
            uint256 fromBalance = _investorBalance(st, t.token, t.fromId, t.from);
            if (fromBalance > t.value && fromBalance - t.value < minHolding) failed |= RULE_MIN_HOLDING;
        }
    }

    /// Only a transfer to an investor that holds nothing can add a holder; it does not if the sending investor
    /// leaves at the same time (its last wallet sends everything).
    function _holderCapRules(State storage st, Transfer memory t, Investor memory toInv) private view returns (uint256 failed) {
        Settings memory s = st.settings;
        if (t.fromId == t.toId || toInv.wallets != 0) return 0;
        if (s.maxHolders == 0 && s.maxNonAccreditedHolders == 0) return 0;
        bool fromLeaves = false;
        bool fromAccredited = false;
        if (t.from != address(0) && st.walletInvestor[t.from] != address(0)) {
            Investor memory fromInv = st.investors[t.fromId];
            fromLeaves = fromInv.wallets == 1 && t.token.balanceOf(t.from) <= t.value;
            fromAccredited = fromInv.accredited;
        }
        if (s.maxHolders != 0 && !fromLeaves && s.holders >= s.maxHolders) failed |= RULE_HOLDER_CAP;
        if (
            s.maxNonAccreditedHolders != 0 && !toInv.accredited && !(fromLeaves && !fromAccredited)
                && s.nonAccreditedHolders >= s.maxNonAccreditedHolders
        ) failed |= RULE_NON_ACCREDITED_CAP;
    }

    /// The sender must keep its locked amount; a lock marked accreditedMayReceive does not hold back a transfer
    /// to an accredited investor.
    function _lockRule(State storage st, Transfer memory t, Investor memory toInv) private view returns (uint256) {
        if (t.from == address(0)) return 0;
        uint256 locked = _locked(st.locks[t.from], toInv.accredited);
        if (locked == 0) return 0;
        uint256 bal = t.token.balanceOf(t.from);
        return bal < t.value || bal - t.value < locked ? RULE_LOCKED : 0;
    }

    // ---------------------------------------------------------------- internals

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
            st.settings.holders += 1;
            if (!inv.accredited) st.settings.nonAccreditedHolders += 1;
        }
    }

    function _detach(State storage st, address _wallet, address _id) private {
        delete st.walletInvestor[_wallet];
        Investor storage inv = st.investors[_id];
        if (inv.wallets == 0) return;
        if (--inv.wallets == 0) {
            st.settings.holders = _dec(st.settings.holders);
            if (!inv.accredited) st.settings.nonAccreditedHolders = _dec(st.settings.nonAccreditedHolders);
        }
    }

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

    function _locked(Lock[] storage locks, bool _toAccredited) private view returns (uint256 total) {
        uint256 n = locks.length;
        for (uint256 i = 0; i < n; i++) {
            Lock memory l = locks[i];
            if (l.until > block.timestamp && !(l.accreditedMayReceive && _toAccredited)) total += l.amount;
        }
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
