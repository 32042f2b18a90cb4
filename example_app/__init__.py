"""A small shop page that uses pc-middleware as a user would."""
