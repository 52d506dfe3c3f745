-- Temporal keeps its own databases (temporal, temporal_visibility) in the same
-- PostgreSQL server, under its own role; auto-setup creates the schemas.
CREATE ROLE temporal WITH LOGIN PASSWORD 'temporal' CREATEDB;
