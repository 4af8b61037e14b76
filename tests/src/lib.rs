//! End-to-end tests of xinbao live in `tests/tests/`; this library is empty on purpose.
