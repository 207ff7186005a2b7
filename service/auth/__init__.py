"""Identity and access: users, sessions, API tokens, workspaces and roles."""
