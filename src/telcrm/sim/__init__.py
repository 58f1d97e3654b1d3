"""Stand-ins for the operator's other systems, run as separate processes for demos and benchmarks."""
