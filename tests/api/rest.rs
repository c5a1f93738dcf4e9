//! REST tests.
