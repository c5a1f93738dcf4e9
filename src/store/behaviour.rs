//! Behavioural tests every store implementation must pass.
