"""MintNet: masked invertible networks."""
