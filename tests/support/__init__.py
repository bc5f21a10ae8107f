"""What several test folders share: a runner process and a project in git (control), a PostgreSQL
server (pg), a committed fleet (fleet), a deterministic plan (plans), a webhook/tool receiver.
Fixtures defined here are made visible to a folder by importing them in its conftest.py."""
