"""The element-wise kernel modules compiled for avx2 (see setup.py and fastnet._simd)."""
