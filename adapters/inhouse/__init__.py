"""Our own implementations: pure torch, batched, on the device, any spatial rank."""
