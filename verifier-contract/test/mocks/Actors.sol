// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @notice A contract account that refuses ETH (no receive/fallback): used as a requester, provider
///         or fee recipient to show a reverting receiver cannot lock anybody else's funds.
contract RevertingReceiver {
    function execute(address target, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        revert("RevertingReceiver: no ETH");
    }
}

/// @notice A contract account that, when it receives ETH, calls back into `target` with `data`
///         (once) and records whether that reentrant call succeeded and what it reverted with.
contract ReentrantAttacker {
    address public target;
    bytes public data;
    bool public attempted;
    bool public reentrySucceeded;
    bytes public reentryRevertData;
    uint256 public received;

    function arm(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
        attempted = false;
    }

    function execute(address to, uint256 value, bytes calldata d) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = to.call{value: value}(d);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        received += msg.value;
        if (target != address(0) && !attempted) {
            attempted = true;
            (bool ok, bytes memory ret) = target.call(data);
            reentrySucceeded = ok;
            reentryRevertData = ret;
        }
    }
}
