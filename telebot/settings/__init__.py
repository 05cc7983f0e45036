"""Settings beyond config.env: each user's own (/usetting) and the owner's runtime overrides
(/bsetting)."""
