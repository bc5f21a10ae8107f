"""A vendored subset of Twilio's official OpenAPI spec (2010 API) and the script that regenerates it."""
