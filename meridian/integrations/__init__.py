"""Integrations: mail in and out, monitoring webhooks — the channels through which other systems reach the processes."""
