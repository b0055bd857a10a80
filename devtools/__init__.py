"""Development and test tooling: virtual displays, a throwaway PostgreSQL, a live server,
the demo. Never imported by the product and not frozen into the agent."""
