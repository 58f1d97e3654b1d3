"""TMF622 product ordering: order capture and its checks (ADR 6, ADR 8)."""
