//! Storage: the narrow `Store` trait, its sled and in-memory implementations, and the log layout.
