"""TMF637 product inventory: the products (product instances) customers hold (ADR 7)."""
