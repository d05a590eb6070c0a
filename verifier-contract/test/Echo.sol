// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

contract Echo {
    event Echoed(bytes data);

    function echo(bytes calldata data) external returns (bytes memory) {
        emit Echoed(data);
        return data;
    }

    fallback(bytes calldata data) external returns (bytes memory) {
        return data;
    }
}
