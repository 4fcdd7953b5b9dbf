"""Where missing embeddings are encoded: in-process (default) or fanned out over a Ray cluster (`ray_data`)."""
