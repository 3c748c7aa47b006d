"""Incident and service request management (ISO/IEC 20000-1 8.6.1–8.6.2)."""
