// SPDX-License-Identifier: GPL-3.0
pragma solidity ^0.8.17;

/// @title CashToken
/// @notice A minimal ERC-20 standing in for tokenized deposits: the cash leg of delivery versus payment.
/// @dev Written for tokenstack; no external imports so it compiles offline with solc alone.
contract CashToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    address public owner;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    modifier onlyOwner() {
        require(msg.sender == owner, "CashToken: caller is not the owner");
        _;
    }

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    /// @notice Pays several payees in one transaction (a distribution's payments from one paying wallet).
    /// @dev Same signature as ERC-3643's `batchTransfer`, so a payer drives the cash token and a security token alike.
    /// Emits one standard Transfer per payee, so an indexer books each leg as it would a single transfer.
    /// All or nothing: any bad leg (a zero address, a balance short of the sum so far) reverts the whole batch.
    function batchTransfer(address[] calldata toList, uint256[] calldata amounts) external returns (bool) {
        require(toList.length == amounts.length, "CashToken: batch lengths differ");
        for (uint256 i = 0; i < toList.length; i++) {
            _transfer(msg.sender, toList[i], amounts[i]);
        }
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        // An infinite approval is not spent down, as in most ERC-20s.
        if (allowed != type(uint256).max) {
            require(allowed >= value, "CashToken: insufficient allowance");
            allowance[from][msg.sender] = allowed - value;
        }
        _transfer(from, to, value);
        return true;
    }

    /// @notice The owner (the deposit-taking bank or its agent) issues deposits on-chain.
    function mint(address to, uint256 value) external onlyOwner {
        require(to != address(0), "CashToken: mint to the zero address");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    /// @notice A holder redeems deposits off-chain by burning them.
    function burn(uint256 value) external {
        require(balanceOf[msg.sender] >= value, "CashToken: burn amount exceeds balance");
        balanceOf[msg.sender] -= value;
        totalSupply -= value;
        emit Transfer(msg.sender, address(0), value);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "CashToken: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function _transfer(address from, address to, uint256 value) private {
        require(to != address(0), "CashToken: transfer to the zero address");
        require(balanceOf[from] >= value, "CashToken: transfer amount exceeds balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
