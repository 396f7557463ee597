"""The LLVM CPU backend (being built): native kernels generated as LLVM IR and compiled with
llvmlite.  Not registered as a backend yet; see docs/architecture.md for its status."""
