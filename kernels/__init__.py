"""adkit.kernels: OpenCL kernels and their host-side runtime (to come, issue 5)."""
