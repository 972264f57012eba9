"""The mask contract in NumPy only: Philox, the element formula, normal variates, geometry, checks.

Nothing here compiles a kernel or imports an array library; every other layer
of numbadrop builds on it (see docs/architecture.rst).
"""
