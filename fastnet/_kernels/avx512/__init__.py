"""The element-wise kernel modules compiled for avx512 (see setup.py and fastnet._simd)."""
