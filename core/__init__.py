"""The bottom Django package: shared API plumbing, page registries, middleware. Imports no app of the project."""
