//! `contracts`: the rulebook (DOMAIN.md) as pure, deterministic functions.
