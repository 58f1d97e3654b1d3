"""telcrm: customer-centric support system for telecom operators."""

__version__ = "0.1.0"
