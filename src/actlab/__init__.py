"""actlab: activation functions from scratch (numpy and torch, CPU and CUDA)."""
