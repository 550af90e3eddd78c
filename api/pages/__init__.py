"""The pages people use: citizen verification, the security desk, the officials' portal, the guest pass."""
