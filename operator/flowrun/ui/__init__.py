"""The web UI (`flowrun ui`, chart `ui.enabled`): see docs/ui.md. Needs the `ui` extra."""
