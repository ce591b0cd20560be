"""The web console (``soc web``): the same services as the CLI, behind sign-in and roles."""
