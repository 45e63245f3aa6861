"""The open data API (issue 26): `envmon api`, pipelines/api/app.py."""
