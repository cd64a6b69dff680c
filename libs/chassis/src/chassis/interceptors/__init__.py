"""Server interceptors; chassis.server puts them in their order."""
