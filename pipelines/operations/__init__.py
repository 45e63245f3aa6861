"""Operating envmon over the years: backups and restores (backup.py)."""
